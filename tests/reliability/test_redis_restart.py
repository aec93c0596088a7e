"""Redis stopped and restarted while jobs are queued and running: every accepted job ends.

The broker keeps nothing across the restart (no persistence), so every message in it is lost;
the database still knows each job, and the sweeper sends what the broker forgot.
"""
import tempfile
import time
from pathlib import Path

import pytest

from devservices.redis_server import EmbeddedRedis
from tests.helpers import auth, grant, register
from tests.integration.conftest import start_worker, stop, wait_for, wait_for_worker
from tests.needs import require_module
from tests.reliability.invariants import check_invariants, unfinished
from workers.sweeper import sweep

JOBS_BEFORE, JOBS_DURING = 20, 5
JOB = {"service": "embedding-l4", "input": {"text": ["some words to embed " * 20] * 8}}


@pytest.fixture
def own_redis():
    redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="gpub-redis-")), throwaway=True)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def broker_app(test_env, own_redis, db_session):
    """The API on the test database but on a Redis of this test's own."""
    from app import create_app

    url = own_redis.url
    ours = create_app({"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"], "REDIS_URL": url,
                       "CELERY_BROKER_URL": url, "ALLOW_PRIVATE_URLS": True})
    return ours


def _submit(client, key: str, count: int) -> None:
    for _ in range(count):
        assert client.post("/run", json=JOB, headers=auth(key)).status_code == 202


def test_jobs_survive_a_broker_restart(broker_app, db_session, test_env, own_redis):
    require_module("tokenizers")
    broker = {"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url}
    celery, client = broker_app.extensions["celery"], broker_app.test_client()
    worker = start_worker({**test_env, **broker}, "restart",
                          extra_env={"GPUBRIDGE_JOB_LEASE_SECONDS": "3"})
    config = {**broker_app.config, "REQUEUE_AFTER_SECONDS": 1, "SETTLE_AFTER_SECONDS": 1}
    try:
        wait_for_worker(broker_app, "restart@")
        key = register(client, "broker@example.com")
        grant(broker_app, "broker@example.com", "5")
        _submit(client, key, JOBS_BEFORE)
        wait_for(lambda: unfinished(db_session) < JOBS_BEFORE)  # work is under way
        own_redis.stop()                           # queued messages are gone with it
        _submit(client, key, JOBS_DURING)           # accepted while the broker is down
        own_redis.restart()
        deadline = time.monotonic() + 180
        while unfinished(db_session) and time.monotonic() < deadline:
            sweep(db_session, config, celery)       # what beat does every interval
            db_session.commit()
            time.sleep(0.5)                         # beat's interval, shortened
        assert unfinished(db_session) == 0
        assert check_invariants(db_session) == []
    finally:
        stop(worker)
