"""Cancelling a running job at the provider, on a real worker against the emulator.

These jobs need a call that outlives the cancel, so they run on their own worker whose calls
are not capped at the folder's short timeout: broker db 3, queues audio and billing.
"""
from decimal import Decimal

import pytest
from sqlalchemy import text

from billing import ledger
from tests.helpers import auth, data, grant, register, settled
from tests.integration.conftest import start_worker, stop, wait_for, wait_for_worker

# whisperx: Replicate first, $0.002 per second, minimum $0.01, 25 s estimated: a $0.05 hold
WHISPERX = {"service": "whisperx", "input": {"audio_url": "data:audio/wav;base64,UklGRg=="}}
HOLD = Decimal("0.05")


@pytest.fixture(scope="module")
def long_env(emu_env):
    import redis

    broker = emu_env["REDIS_URL"].rsplit("/", 1)[0] + "/3"
    redis.Redis.from_url(broker).flushdb()
    return {**emu_env, "REDIS_URL": broker, "CELERY_BROKER_URL": broker,
            "GPUBRIDGE_CALL_TIMEOUT_CAP_SECONDS": "0"}


@pytest.fixture(scope="module")
def long_app(app, long_env):
    from app import create_app
    from app.config import load_config

    return create_app({**load_config(long_env), "TESTING": True})


@pytest.fixture(scope="module")
def long_worker(long_app, long_env):
    process = start_worker(long_env, "emu-long", "audio,billing", 1)
    try:
        wait_for_worker(long_app, "emu-long@")
        yield process
    finally:
        stop(process)


@pytest.fixture
def client(long_app, long_worker, emulator, db_session):
    emulator.reset()
    yield long_app.test_client()
    emulator.reset()


def _running_upstream(client, key, emulator, headers=None):
    """Submit a whisperx job whose prediction stays processing; return its id once the
    worker is polling that prediction."""
    accepted = client.post("/run", json=WHISPERX, headers={**auth(key), **(headers or {})})
    assert accepted.status_code == 202, accepted.get_json()
    wait_for(lambda: [r for r in emulator.requests("replicate") if r["method"] == "GET"],
             timeout=30)
    return accepted.get_json()["job_id"]


def _cancelled_upstream(emulator):
    return [r["path"] for r in emulator.requests("replicate")
            if r["method"] == "POST" and r["path"].endswith("/cancel")]


def test_cancel_mid_prediction_cancels_upstream_and_charges_the_seconds_used(
        long_app, client, emulator, db_session):
    key = register(client, "midrun@example.com")
    grant(long_app, "midrun@example.com", "5")
    emulator.fault("replicate", "processing", path="/models/", compute_seconds=7.5)
    job_id = _running_upstream(client, key, emulator)
    answer = client.post(f"/cancel/{job_id}", headers=auth(key))
    assert answer.status_code == 202 and answer.get_json()["status"] == "running"
    job = wait_for(lambda: settled(client, job_id), timeout=30)
    assert job["status"] == "cancelled" and job["error"]["code"] == "cancelled"
    assert len(_cancelled_upstream(emulator)) == 1
    assert [(a["backend"], a["outcome"]) for a in job["attempts"]] == \
        [("replicate", "cancelled")]
    assert job["usage"]["compute_seconds"] == Decimal("7.5")
    assert job["cost_usd"] == Decimal("0.015")  # 7.5 s at $0.002
    assert job["refund_amount_usd"] == HOLD - Decimal("0.015")
    balance = data(client.get("/account/balance", headers=auth(key)))["balance"]
    assert balance == Decimal("5") - Decimal("0.015")
    assert ledger.check(db_session) == []


def test_a_deadline_passing_mid_run_cancels_upstream_and_charges_at_least_the_minimum(
        long_app, client, emulator, db_session):
    key = register(client, "deadline@example.com")
    grant(long_app, "deadline@example.com", "5")
    emulator.fault("replicate", "processing", path="/models/", compute_seconds=2)
    job_id = _running_upstream(client, key, emulator, {"Cancel-After": "600"})
    # The deadline passes now, while the prediction runs (as if 600 s had gone by).
    db_session.execute(text("UPDATE jobs SET cancel_after = now() WHERE id = :id"),
                       {"id": job_id})
    db_session.commit()
    job = wait_for(lambda: settled(client, job_id), timeout=30)
    assert job["status"] == "cancelled" and job["error"]["code"] == "deadline_exceeded"
    assert len(_cancelled_upstream(emulator)) == 1
    assert job["usage"]["compute_seconds"] == Decimal("2")
    assert job["cost_usd"] == Decimal("0.01")  # 2 s is $0.004: the minimum applies
    assert job["refund_amount_usd"] == HOLD - Decimal("0.01")
    assert ledger.check(db_session) == []
