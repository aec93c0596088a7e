"""PostgreSQL connections dropped during settlement: settlement converges, no partial rows."""
import threading
import uuid

from sqlalchemy import create_engine, text

from app.catalog import load_catalog
from billing.pricing import estimate
from tests.helpers import auth, data, grant, register
from tests.integration.conftest import start_worker, stop, wait_for, wait_for_worker
from tests.reliability.invariants import check_invariants, unfinished
from workers.sweeper import sweep

JOBS = 40


def _complete_without_settling(session, job_ids) -> None:
    """As if a worker ran each job: completed, with usage, settlement still to do."""
    session.execute(text(
        "UPDATE jobs SET status = 'completed', usage = '{\"outputs\": 1}', output = '{}', "
        "started_at = now(), finished_at = now() WHERE id = ANY(:ids)"),
        {"ids": [uuid.UUID(i) for i in job_ids]})
    session.commit()


def _drop_connections(database_url: str, stop_event: threading.Event) -> None:
    """Terminate every other session on the test database, over and over."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        while not stop_event.wait(0.02):
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"))
    engine.dispose()


def test_settlement_converges_through_dropped_connections(app, client, db_session, test_env,
                                                          monkeypatch, tmp_path):
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)  # no run: we finish them here
    key = register(client, "drops@example.com")
    grant(app, "drops@example.com", "5")
    job_ids = [data(client.post("/run", json={"service": "embedding-l4", "input": {
        "text": f"t{n}"}}, headers=auth(key)))["job_id"] for n in range(JOBS)]
    _complete_without_settling(db_session, job_ids)
    log_path = tmp_path / "billing.log"
    log = log_path.open("w")
    worker = start_worker(test_env, "drops", queues="billing", log=log)
    stop_dropping = threading.Event()
    dropper = threading.Thread(target=_drop_connections,
                               args=(test_env["DATABASE_URL"], stop_dropping))
    config = {**app.config, "SETTLE_AFTER_SECONDS": 0}
    try:
        wait_for_worker(app, "drops@")
        dropper.start()
        for job_id in job_ids:
            app.extensions["celery"].send_task("workers.settle_job", args=[job_id],
                                               queue="billing")
        # Keep dropping until a settlement has visibly failed part-way.
        wait_for(lambda: "OperationalError" in log_path.read_text(), timeout=60)
        stop_dropping.set()
        dropper.join()
        db_session.rollback()
        wait_for(lambda: _sweep_until_settled(db_session, config, app), timeout=120)
    finally:
        stop_dropping.set()
        stop(worker)
        log.close()
    price = estimate(load_catalog().get("embedding-l4"), {}, None)
    captured = db_session.execute(text("SELECT sum(actual_cost) FROM jobs")).scalar()
    assert captured == JOBS * price
    assert check_invariants(db_session) == []


def _sweep_until_settled(session, config, app) -> bool:
    try:
        sweep(session, config, app.extensions["celery"])
        session.commit()
    except Exception:  # our own pooled connection was one of those dropped
        session.rollback()
    return unfinished(session) == 0
