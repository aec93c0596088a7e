"""Workers killed with SIGKILL at random moments while jobs run: every job ends, none is lost,
none is charged twice. `make test` runs a bounded form; `make soak` 200 jobs and 8 kills."""
import os
import random
import signal
import time

from sqlalchemy import text

from app.extensions import db
from tests.helpers import auth, grant, register
from tests.integration.conftest import start_worker, stop, wait_for_worker
from tests.needs import require_module
from tests.reliability.invariants import check_invariants, unfinished
from workers.sweeper import sweep

SOAK = os.environ.get("SOAK") == "1"  # `make soak`: the long form
JOBS = 200 if SOAK else 40
KILLS = 8 if SOAK else 2
WORKER_ENV = {"GPUBRIDGE_JOB_LEASE_SECONDS": "3", "GPUBRIDGE_JOB_MAX_DELIVERIES": "6"}


def _submit(client, key: str) -> None:
    for n in range(JOBS):
        # A handful of texts per job: long enough that kills land mid-job.
        body = {"service": "embedding-l4", "input": {"text": [f"job {n} text {i}" * 8
                                                              for i in range(8)]}}
        assert client.post("/run", json=body, headers=auth(key)).status_code == 202


def _running(session) -> int:
    session.commit()
    return session.execute(text("SELECT count(*) FROM jobs WHERE status = 'running'")).scalar()


def _restart_all(app, env, workers: dict) -> None:
    for process in workers.values():
        os.killpg(process.pid, signal.SIGKILL)  # the whole pool, mid-task
    for name, process in workers.items():
        process.wait()
        workers[name] = start_worker(env, name, extra_env=WORKER_ENV)
    for name in workers:
        wait_for_worker(app, f"{name}@")


def test_sigkilled_workers_lose_and_double_charge_nothing(app, client, db_session, test_env):
    require_module("tokenizers")
    key = register(client, "chaos@example.com")
    grant(app, "chaos@example.com", "10")
    names = ("chaos1", "chaos2")
    workers = {n: start_worker(test_env, n, extra_env=WORKER_ENV) for n in names}
    rng = random.Random(1234)
    sweeper_config = {**app.config, "REQUEUE_AFTER_SECONDS": 1, "JOB_MAX_DELIVERIES": 6}
    try:
        for name in names:
            wait_for_worker(app, f"{name}@")
        _submit(client, key)
        kills, deadline = 0, time.monotonic() + 240
        while unfinished(db_session) and time.monotonic() < deadline:
            if kills < KILLS and rng.random() < 0.5 and _running(db_session):
                _restart_all(app, test_env, workers)
                kills += 1
            sweep(db_session, sweeper_config, app.extensions["celery"])  # what beat does
            db_session.commit()
            time.sleep(rng.uniform(0.2, 0.8))  # chaos pacing, not synchronisation
        assert kills == KILLS
        assert unfinished(db_session) == 0
        interrupted = db_session.execute(text(
            "SELECT count(*) FROM jobs WHERE deliveries > 1")).scalar()
        assert interrupted >= 1, "no kill landed while a job was running"
        db.session.expire_all()
        assert check_invariants(db_session) == []
    finally:
        for process in workers.values():
            stop(process)
