"""Running one job: claim it, walk the backend chain, record the outcome. No Celery here.

Every state change is a conditional UPDATE, so a redelivered message changes nothing: only the
delivery that moved the job queued->running (or took over an expired lease) may finish it, and
it proves that with the `deliveries` count it claimed (a fencing token).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.catalog import Catalog
from app.models import JobAttempt, StoredFile
from providers.base import Result
from providers.router import Attempt, ChainFailed, RetryPolicy, run_chain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    job_id: uuid.UUID
    delivery: int
    service: str
    model: str | None
    input: dict
    priority: str | None = None


def claim(session: Session, job_id: uuid.UUID, lease_seconds: int, max_deliveries: int
          ) -> Claim | None:
    """Take the job if it is queued or its lease ran out; None if another delivery has it."""
    row = session.execute(text(
        "UPDATE jobs SET status = 'running', deliveries = deliveries + 1, "
        "started_at = COALESCE(started_at, now()), updated_at = now(), "
        "lease_expires_at = now() + make_interval(secs => :lease) "
        "WHERE id = :id AND deliveries < :max AND (status = 'queued' OR "
        "(status = 'running' AND lease_expires_at < now())) "
        "RETURNING deliveries, service, model, input, priority"),
        {"id": job_id, "lease": lease_seconds, "max": max_deliveries}).one_or_none()
    session.commit()
    if row is None:
        return None
    return Claim(job_id, row.deliveries, row.service, row.model, row.input, row.priority)


class Heartbeat:
    """Renews a claimed job's lease from a side thread while the job runs.

    A short lease makes a killed worker's job come back quickly; the heartbeat keeps a long
    provider call from being handed to a second worker meanwhile.
    """

    def __init__(self, engine, claimed: Claim, lease_seconds: float):
        self.engine, self.claimed, self.lease = engine, claimed, lease_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def _beat(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            with self.engine.begin() as conn:
                conn.execute(text(
                    "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => :secs) "
                    "WHERE id = :id AND status = 'running' AND deliveries = :delivery"),
                    {"secs": self.lease, "id": self.claimed.job_id,
                     "delivery": self.claimed.delivery})

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join()


def _record(session: Session, claimed: Claim):
    def record(attempt: Attempt) -> None:
        session.add(JobAttempt(job_id=claimed.job_id, delivery=claimed.delivery,
                               backend=attempt.backend, outcome=attempt.outcome,
                               error=attempt.error, error_class=attempt.error_class,
                               seconds=attempt.seconds))
        session.commit()
    return record


def _store_files(session: Session, job_id: uuid.UUID, result: Result):
    """Keep produced files and swap each "file:<key>" placeholder for its /files/ path."""
    paths = {}
    for key, produced in result.files.items():
        token = secrets.token_urlsafe(32)
        session.add(StoredFile(token=token, job_id=job_id, content_type=produced.content_type,
                               data=produced.content))
        paths[f"file:{key}"] = f"/files/{token}"

    def swap(value):
        if isinstance(value, str):
            return paths.get(value, value)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value
    return swap(result.output)


def _finish(session: Session, claimed: Claim, status: str, **values) -> bool:
    """Move running->final for this delivery only; False if the job was taken over."""
    done = session.execute(text(
        "UPDATE jobs SET status = :status, output = CAST(:output AS JSONB), "
        "error = CAST(:error AS JSONB), usage = CAST(:usage AS JSONB), finished_at = now(), "
        "updated_at = now(), lease_expires_at = NULL "
        "WHERE id = :id AND status = 'running' AND deliveries = :delivery RETURNING id"),
        {"status": status, "id": claimed.job_id, "delivery": claimed.delivery,
         "output": values.get("output"), "error": values.get("error"),
         "usage": values.get("usage")}).scalar()
    if done is None:
        session.rollback()
        return False
    session.commit()
    return True


def execute(session: Session, catalog: Catalog, backends: dict, claimed: Claim,
            lease_seconds: float, policy: RetryPolicy = RetryPolicy(),
            health=None) -> str | None:
    """Run a claimed job to a final status; returns it, or None if the job was taken over.
    `health` (providers.health.BackendHealth) shares breakers and latency across workers."""
    service = catalog.get(claimed.service)
    try:
        with Heartbeat(session.get_bind(), claimed, lease_seconds):
            result, _step = run_chain(service, claimed.input, claimed.model, backends,
                                      _record(session, claimed), policy,
                                      priority=claimed.priority, health=health)
    except ChainFailed as exc:
        error = {"message": exc.message, "code": "invalid_input" if exc.permanent
                 else "backends_failed"}
        ok = _finish(session, claimed, "failed", error=json.dumps(error))
        return "failed" if ok else None
    output = _store_files(session, claimed.job_id, result)
    usage = dataclasses.asdict(result.usage)
    ok = _finish(session, claimed, "completed", output=json.dumps(output),
                 usage=json.dumps(usage))
    return "completed" if ok else None


def fail_exhausted(session: Session, max_deliveries: int) -> list[uuid.UUID]:
    """Fail jobs whose lease ran out after the last allowed delivery (a worker kept dying)."""
    rows = session.execute(text(
        "UPDATE jobs SET status = 'failed', finished_at = now(), updated_at = now(), "
        "lease_expires_at = NULL, error = CAST(:error AS JSONB) "
        "WHERE status = 'running' AND lease_expires_at < now() AND deliveries >= :max "
        "RETURNING id"),
        {"max": max_deliveries,
         "error": '{"message": "the job stopped its worker too many times", '
                  '"code": "worker_lost"}'}).scalars().all()
    session.commit()
    return list(rows)
