"""Redelivered and crashing jobs: the database's claim and lease decide, not the broker."""
import os
import signal
import uuid

from sqlalchemy import text

from tests.helpers import auth, data, grant, register
from tests.integration.conftest import start_worker, stop, wait_for, wait_for_worker
from tests.needs import require_module
from tests.reliability.invariants import check_invariants
from workers.sweeper import sweep

# 64 long texts: a few seconds of real embedding work on a small machine.
SLOW = {"service": "embedding-l4", "input": {"text": ["a long sentence " * 60] * 64}}


def _job_row(session, job_id):
    session.commit()  # end the snapshot so the next read sees other processes' commits
    return session.execute(text("SELECT status, deliveries, lease_expires_at, settled_at "
                                "FROM jobs WHERE id = :id"), {"id": uuid.UUID(job_id)}).one()


def _swept(session, config, app) -> bool:
    sent = sweep(session, config, app.extensions["celery"])
    return bool(sent["rerun"] or sent["failed"])


def test_a_visibility_timeout_shorter_than_the_job_changes_nothing(app, client, db_session,
                                                                   test_env, tmp_path):
    require_module("tokenizers")
    env = {"GPUBRIDGE_BROKER_VISIBILITY_TIMEOUT": "1", "GPUBRIDGE_JOB_LEASE_SECONDS": "3"}
    log_path = tmp_path / "workers.log"
    log = log_path.open("w")
    workers = [start_worker(test_env, n, extra_env=env, log=log) for n in ("vis1", "vis2")]
    try:
        for name in ("vis1@", "vis2@"):
            wait_for_worker(app, name)
        key = register(client, "vis@example.com")
        grant(app, "vis@example.com", "1")
        job_id = data(client.post("/run", json=SLOW, headers=auth(key)))["job_id"]
        done = wait_for(lambda: (b := data(client.get(f"/status/{job_id}")))["settled"] and b,
                        timeout=120)
        assert done["status"] == "completed"
        assert [a["outcome"] for a in done["attempts"]] == ["ok"]
        assert check_invariants(db_session) == []
    finally:
        for process in workers:
            stop(process)
        log.close()
    received = [line for line in log_path.read_text().splitlines()
                if "workers.run_job[" in line and "received" in line]
    assert len(received) >= 2, "the broker should have redelivered the job at least once"


def test_a_job_that_kills_its_worker_every_time_fails_refunded(app, client, db_session,
                                                               test_env):
    require_module("tokenizers")
    env = {"GPUBRIDGE_JOB_LEASE_SECONDS": "2", "GPUBRIDGE_JOB_MAX_DELIVERIES": "3"}
    config = {**app.config, "JOB_MAX_DELIVERIES": 3, "REQUEUE_AFTER_SECONDS": 1}
    key = register(client, "doomed@example.com")
    grant(app, "doomed@example.com", "1")
    job_id = data(client.post("/run", json=SLOW, headers=auth(key)))["job_id"]
    for delivery in (1, 2, 3):
        worker = start_worker(test_env, "doomed", extra_env=env)
        wait_for(lambda: _job_row(db_session, job_id).deliveries == delivery, timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)  # the job "crashes" its worker mid-run
        worker.wait()
        # Once the dead worker's lease lapses, the sweeper re-sends the job (or, after the
        # last allowed delivery, fails it).
        wait_for(lambda: _swept(db_session, config, app), timeout=60)
    billing = start_worker(test_env, "doomed-billing", queues="billing")
    try:
        wait_for(lambda: _job_row(db_session, job_id).settled_at is not None, timeout=60)
    finally:
        stop(billing)
    done = data(client.get(f"/status/{job_id}"))
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"
    assert done["cost_usd"] == 0 and done["refunded"] is True
    assert check_invariants(db_session) == []
