"""Celery on RabbitMQ: a job runs through a worker on the amqp broker, and /health reads the
queue depths there. Skips on a laptop without RabbitMQ; fails under CI=true."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid

import pytest

from tests.helpers import auth, grant, register, settled
from tests.integration.conftest import start_worker, stop, wait_for, wait_for_worker
from tests.needs import require_module

AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672


def _reachable() -> bool:
    try:
        socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def amqp_url():
    if not _reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ is required in CI ({AMQP_HOST}:{AMQP_PORT})")
        pytest.skip("RabbitMQ is not running")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:  # no admin tool: share the default vhost
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}//"
        return
    # A vhost of our own, so no other test run's worker can take our messages.
    vhost = f"gpubridge-test-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True, timeout=60)
    try:
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def amqp_app(test_env, amqp_url):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
                       "REDIS_URL": test_env["REDIS_URL"], "CELERY_BROKER_URL": amqp_url,
                       "ALLOW_PRIVATE_URLS": True, "TESTING": True})


@pytest.fixture(scope="module")
def amqp_worker(amqp_app, test_env, amqp_url):
    process = start_worker({**test_env, "CELERY_BROKER_URL": amqp_url}, "amqp")
    try:
        wait_for_worker(amqp_app, "amqp@")
        yield process
    finally:
        stop(process)


def test_a_job_runs_through_a_worker_on_rabbitmq(app, client, amqp_app, amqp_worker):
    require_module("tokenizers")
    key = register(client, "rabbit@example.com")
    grant(app, "rabbit@example.com", "1")
    web = amqp_app.test_client()
    accepted = web.post("/run", json={"service": "embedding-l4", "input": {"text": "hi"}},
                        headers=auth(key))
    assert accepted.status_code == 202, accepted.get_json()
    done = wait_for(lambda: settled(web, accepted.get_json()["job_id"]))
    assert done["status"] == "completed" and done["output"]["dimensions"] == 384
    health = web.get("/health").get_json()
    for name in ("text", "billing"):
        assert health["queues"][name]["depth"] == 0
        assert any(worker.startswith("amqp@") for worker in health["queues"][name]["workers"])
