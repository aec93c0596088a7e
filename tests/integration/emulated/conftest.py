"""Fixtures for the tests in this folder: pipelines on the provider emulator: its own broker db, app and workers.

Jobs here go through Redis db 2 (the session's other workers read db 1, so they never take
these jobs), every remote backend points at an in-process emulator, and the local backend is
disabled so each service runs through a remote adapter. Two worker processes share the work:
`emu-text` reads the text queue, `emu-media` the image, audio and video queues; both settle.
"""
from __future__ import annotations

import pytest

from providers.emulator import Emulator
from tests.integration.conftest import start_worker, stop, wait_for_worker

BREAKER_THRESHOLD = 3
BREAKER_COOLDOWN = 8.0
CALL_TIMEOUT_CAP = 1.5


@pytest.fixture(scope="session")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture(scope="session")
def emu_env(test_env, redis_url, emulator) -> dict:
    import redis

    broker = redis_url.rsplit("/", 1)[0] + "/2"
    redis.Redis.from_url(broker).flushdb()
    return {**test_env, **emulator.env(), "REDIS_URL": broker, "CELERY_BROKER_URL": broker,
            "GPUBRIDGE_DISABLED_BACKENDS": "local",
            "GPUBRIDGE_RETRY_BASE_DELAY_SECONDS": "0.05",
            "GPUBRIDGE_CALL_TIMEOUT_CAP_SECONDS": str(CALL_TIMEOUT_CAP),
            "GPUBRIDGE_BREAKER_THRESHOLD": str(BREAKER_THRESHOLD),
            "GPUBRIDGE_BREAKER_COOLDOWN_SECONDS": str(BREAKER_COOLDOWN)}


@pytest.fixture(scope="session")
def emu_app(app, emu_env):
    from app import create_app
    from app.config import load_config

    emulated = create_app({**load_config(emu_env), "TESTING": True})
    return emulated


@pytest.fixture(scope="session")
def emu_workers(emu_app, emu_env):
    """The two worker processes (started together, so their start-up overlaps)."""
    processes = {"emu-text": start_worker(emu_env, "emu-text", "text,billing", 2),
                 "emu-media": start_worker(emu_env, "emu-media", "image,audio,video,billing", 2)}
    try:
        for name in processes:
            wait_for_worker(emu_app, name + "@")
        yield processes
    finally:
        for process in processes.values():
            stop(process)


@pytest.fixture
def emu_client(emu_app, emu_workers, emulator, db_session):
    """A test client of the emulated app; faults, the request log and breakers start clean."""
    emulator.reset()
    redis = emu_app.extensions["redis"]
    for key in redis.scan_iter("gpub:*"):
        redis.delete(key)
    yield emu_app.test_client()
    emulator.reset()
