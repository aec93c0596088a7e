"""Real Celery worker processes against the test database and Redis."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALL_QUEUES = "text,image,audio,video,billing,webhooks"


def start_worker(env: dict, name: str, queues: str = ALL_QUEUES, concurrency: int = 2,
                 extra_env: dict | None = None, log=None) -> subprocess.Popen:
    """Start `celery worker` as a separate process (its own process group); with `log`, an
    open file, it logs every task it receives there."""
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
               "-Q", queues, "-n", f"{name}@%h", "--concurrency", str(concurrency),
               "--without-gossip", "--without-mingle",
               "--loglevel", "INFO" if log else "WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, **(extra_env or {})},
                            start_new_session=True, stdout=log, stderr=log)


def wait_for_worker(app, name: str, timeout: float = 60.0) -> None:
    """Block until the named worker answers a broadcast ping."""
    celery = app.extensions["celery"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = celery.control.ping(timeout=0.5) or []
        if any(name in next(iter(reply)) for reply in replies):
            return
    raise TimeoutError(f"worker {name} did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@pytest.fixture(scope="session")
def worker(app, test_env):
    """One worker consuming every queue, for the whole session."""
    process = start_worker(test_env, "main")
    try:
        wait_for_worker(app, "main@")
        yield process
    finally:
        stop(process)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


@pytest.fixture
def jobs_stay_queued(monkeypatch) -> list:
    """Submitted jobs are committed but not sent to the broker, for tests about money at
    submit and settlement: the session's worker process, once started by any test, would
    otherwise run, settle or refund them mid-test. Returns the ids that would have been sent."""
    sent: list = []
    monkeypatch.setattr("app.jobs.send_job", lambda job: sent.append(job.id))
    return sent
