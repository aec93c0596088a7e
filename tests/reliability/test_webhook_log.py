"""A real worker process batches the rows of delivered final events (app/webhook_log.py) and
writes what it holds when it shuts down: a warm shutdown loses none of them."""
import uuid

from sqlalchemy import text

from tests.helpers import auth, grant, register
from tests.integration.conftest import start_worker, stop, wait_for, wait_for_worker
from tests.needs import require_module
from tests.receiver import Receiver

JOBS = 3  # under the batch of 10, and the wait of an hour: only the shutdown writes them


def _rows(session, job_ids) -> list[str]:
    session.commit()
    return session.execute(text(
        "SELECT d.status FROM webhook_deliveries d JOIN webhook_attempts a "
        "ON a.delivery_id = d.id WHERE d.job_id = ANY(:ids)"),
        {"ids": [uuid.UUID(job_id) for job_id in job_ids]}).scalars().all()


def test_a_worker_stopping_writes_the_delivered_events_it_holds(app, client, db_session,
                                                                test_env):
    require_module("tokenizers")
    key = register(client, "batches@example.com")
    grant(app, "batches@example.com", "1")
    with Receiver() as receiver:
        worker = start_worker(test_env, "batcher", queues="text", concurrency=1,
                              extra_env={"GPUBRIDGE_WEBHOOK_LOG_WAIT_SECONDS": "3600"})
        try:
            wait_for_worker(app, "batcher@")
            job_ids = [client.post("/run", headers=auth(key), json={
                "service": "embedding-l4", "input": {"text": f"batched {n}"},
                "webhook_url": receiver.url}).get_json()["job_id"] for n in range(JOBS)]
            wait_for(lambda: len(receiver.requests) == JOBS)
            assert _rows(db_session, job_ids) == []  # held by the worker's pool process
        finally:
            stop(worker)  # a warm shutdown (SIGTERM)
    assert _rows(db_session, job_ids) == ["delivered"] * JOBS
