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
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from app import lifecycle
from app.catalog import Catalog
from app.models import JobAttempt, StoredFile
from providers.base import CallCancelled, Result
from providers.router import Attempt, ChainFailed, RetryPolicy, run_chain

from .lease import Heartbeat

log = logging.getLogger(__name__)
STOP_CHECK_SECONDS = 1.0  # adapters ask at every poll; the database is asked at most this often


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


class JobStopped(Exception):
    """Raised between attempts when the job was cancelled or passed its deadline."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


class StopCheck:
    """`Call.should_stop` for one job: is it cancelled or past its Cancel-After deadline?

    Reads the job row at most once every `every` seconds; `reason` keeps the error to end it
    with once the answer is yes."""

    def __init__(self, session: Session, job_id: uuid.UUID, every: float = STOP_CHECK_SECONDS,
                 clock=time.monotonic):
        self.session, self.job_id, self.every, self.clock = session, job_id, every, clock
        self.reason: str | None = None
        self._next = 0.0

    def __call__(self) -> bool:
        if self.reason is None and self.clock() >= self._next:
            self._next = self.clock() + self.every
            self.reason = lifecycle.should_stop(self.session, self.job_id)
        return self.reason is not None


def _record(session: Session, claimed: Claim):
    def record(attempt: Attempt) -> None:
        session.add(JobAttempt(job_id=claimed.job_id, delivery=claimed.delivery,
                               backend=attempt.backend, outcome=attempt.outcome,
                               error=attempt.error, error_class=attempt.error_class,
                               seconds=attempt.seconds))
        session.commit()
        # A cancel takes effect mid-run where the adapter can cancel upstream (it raises
        # CallCancelled), else between attempts; a result already made is kept.
        if attempt.outcome not in ("ok", "cancelled") and (
                reason := lifecycle.should_stop(session, claimed.job_id)):
            raise JobStopped(reason)
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
    stop = StopCheck(session, claimed.job_id)
    try:
        if stop():
            raise JobStopped(stop.reason)
        with Heartbeat(session.get_bind(), claimed.job_id, claimed.delivery, lease_seconds):
            result, _step = run_chain(service, claimed.input, claimed.model, backends,
                                      _record(session, claimed), policy,
                                      priority=claimed.priority, health=health,
                                      should_stop=stop)
    except JobStopped as exc:  # nothing was produced, so nothing is charged
        ok = _finish(session, claimed, "cancelled", error=exc.error)
        return "cancelled" if ok else None
    except CallCancelled as exc:  # stopped at the provider mid-run: charged what it used
        ok = _finish(session, claimed, "cancelled", error=stop.reason or lifecycle.CANCELLED,
                     usage=json.dumps(dataclasses.asdict(exc.usage)))
        return "cancelled" if ok else None
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
