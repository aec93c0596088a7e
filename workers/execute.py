"""Running one job: claim it, walk the backend chain, record the outcome. No Celery here.

Every state change is a conditional UPDATE, so a redelivered message changes nothing: only the
delivery that moved the job queued->running (or took over an expired lease) may finish it, and
it proves that with the `deliveries` count it claimed (a fencing token). The final status, the
last attempt, the files and (for the worker) the settlement are one statement: workers/final.py.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass

from psycopg.rows import namedtuple_row
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import lifecycle
from app.dbpool import autocommit
from app.catalog import Catalog
from app.models import JobAttempt
from providers.base import CallCancelled, Result, as_dict
from providers.router import Attempt, ChainFailed, RetryPolicy, run_chain

from . import final
from .lease import LeaseKeeper

log = logging.getLogger(__name__)
STOP_CHECK_SECONDS = 1.0  # adapters ask at every poll; the database is asked at most this often


@dataclass(frozen=True)
class Claim:
    job_id: uuid.UUID
    delivery: int
    service: str
    model: str | None
    input: dict
    hold_amount: int = 0  # with discount_percent, what pricing the settlement needs
    discount_percent: int = 0
    priority: str | None = None
    wants_started: bool = False  # the client asked for the job.started event
    stop_reason: str | None = None  # cancelled, or past its deadline, as it was claimed


# One statement on an autocommit connection (dbpool.autocommit): no BEGIN, no COMMIT.
_CLAIM = (
    "UPDATE jobs SET status = 'running', deliveries = deliveries + 1, "
    "started_at = COALESCE(started_at, now()), updated_at = now(), "
    "lease_expires_at = now() + make_interval(secs => %(lease)s) "
    "WHERE id = %(id)s AND deliveries < %(max)s AND ((status = 'queued' "
    "AND (cancel_after IS NULL OR cancel_after > now())) OR "
    "(status = 'running' AND lease_expires_at < now())) "
    "RETURNING deliveries, service, model, input, hold_amount, discount_percent, priority, "
    "COALESCE(webhook_events @> '[\"job.started\"]', false) AS wants_started, "
    "cancel_requested_at IS NOT NULL AS asked, "
    "COALESCE(cancel_after <= now(), false) AS late")


def claim(session: Session, job_id: uuid.UUID, lease_seconds: int, max_deliveries: int
          ) -> Claim | None:
    """Take the job if it is queued (and not past its Cancel-After deadline: that one is
    aborted instead, see lifecycle.abort_if_expired) or its lease ran out; None if another
    delivery has it or it is final. Also reads what the run needs to know up front.

    The claim commits by itself, on a connection of the session's pool."""
    with autocommit(session.get_bind()) as connection:
        row = connection.cursor(row_factory=namedtuple_row).execute(_CLAIM, {
            "id": job_id, "lease": lease_seconds, "max": max_deliveries}).fetchone()
    if row is None:
        return None
    return Claim(job_id, row.deliveries, row.service, row.model, row.input, row.hold_amount,
                 row.discount_percent, row.priority, row.wants_started,
                 lifecycle.stop_reason(row.asked, row.late))


class JobStopped(Exception):
    """Raised between attempts when the job was cancelled or passed its deadline."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


class StopCheck:
    """`Call.should_stop` for one job: is it cancelled or past its Cancel-After deadline?

    Reads the job row at most once every `every` seconds; `reason` keeps the error to end it
    with once the answer is yes. `known`: the answer read just now (by the claim), which
    spares the first read."""

    _UNKNOWN = object()

    def __init__(self, session: Session, job_id: uuid.UUID, every: float = STOP_CHECK_SECONDS,
                 clock=time.monotonic, known=_UNKNOWN):
        self.session, self.job_id, self.every, self.clock = session, job_id, every, clock
        self.reason: str | None = None if known is self._UNKNOWN else known
        self._next = 0.0 if known is self._UNKNOWN else clock() + every

    def __call__(self) -> bool:
        if self.reason is None and self.clock() >= self._next:
            self._next = self.clock() + self.every
            self.reason = lifecycle.should_stop(self.session, self.job_id)
        return self.reason is not None


class _Recorder:
    """`run_chain`'s record: every attempt becomes a job_attempts row. A failed one is committed
    at once (then the job is asked whether to stop); the successful one, always the last, is
    held back for the final statement: one statement instead of two."""

    def __init__(self, session: Session, claimed: Claim):
        self.session, self.claimed = session, claimed
        self.unwritten: list[Attempt] = []

    def __call__(self, attempt: Attempt) -> None:
        if attempt.outcome == "ok":
            self.unwritten.append(attempt)
            return
        self._insert([attempt])
        self.session.commit()
        # A cancel takes effect mid-run where the adapter can cancel upstream (it raises
        # CallCancelled), else between attempts; a result already made is kept.
        if attempt.outcome != "cancelled" and (
                reason := lifecycle.should_stop(self.session, self.claimed.job_id)):
            raise JobStopped(reason)

    def _insert(self, attempts: list[Attempt]) -> None:
        # Core, not the ORM's unit of work: a few statements a job, each flush cost ~1 ms.
        self.session.execute(JobAttempt.__table__.insert(), [
            {"job_id": self.claimed.job_id, "delivery": self.claimed.delivery,
             "backend": a.backend, "outcome": a.outcome, "error": a.error,
             "error_class": a.error_class, "seconds": a.seconds} for a in attempts])


def _files(result: Result) -> tuple[tuple, object]:
    """The produced files as (token, content type, bytes), and the output with each
    "file:<key>" placeholder swapped for its /files/ path."""
    files, paths = [], {}
    for key, produced in result.files.items():
        token = secrets.token_urlsafe(32)
        files.append((token, produced.content_type, produced.content))
        paths[f"file:{key}"] = f"/files/{token}"

    def swap(value):
        if isinstance(value, str):
            return paths.get(value, value)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value
    return tuple(files), swap(result.output)


def execute(session: Session, catalog: Catalog, backends: dict, claimed: Claim,
            lease_seconds: float, policy: RetryPolicy = RetryPolicy(),
            health=None, settle: bool = False,
            leases: LeaseKeeper | None = None) -> final.Final | None:
    """Run a claimed job to a final status; returns how it ended, or None if the job was
    taken over. `health` (providers.health.BackendHealth) shares breakers and latency across
    workers; `settle`: settle it in its final statement; `leases` renews the job's lease
    while it runs (the worker process's keeper; by default one for this call)."""
    service = catalog.get(claimed.service)
    stop = StopCheck(session, claimed.job_id, known=claimed.stop_reason)
    recorder = _Recorder(session, claimed)

    def finish(status: str, **values) -> final.Final | None:
        return final.write(session.get_bind(), claimed, final.Ending(status, **values),
                           recorder.unwritten, catalog if settle else None)
    try:
        if stop():
            raise JobStopped(stop.reason)
        with (leases or LeaseKeeper()).hold(session.get_bind(), claimed.job_id,
                                            claimed.delivery, lease_seconds):
            result, _step = run_chain(service, claimed.input, claimed.model, backends,
                                      recorder, policy, priority=claimed.priority,
                                      health=health, should_stop=stop)
    except JobStopped as exc:  # nothing was produced, so nothing is charged
        return finish("cancelled", error=json.loads(exc.error))
    except CallCancelled as exc:  # stopped at the provider mid-run: charged what it used
        return finish("cancelled", error=json.loads(stop.reason or lifecycle.CANCELLED),
                      usage=as_dict(exc.usage))
    except ChainFailed as exc:
        return finish("failed", error={"message": exc.message, "code": "invalid_input"
                                       if exc.permanent else "backends_failed"})
    files, output = _files(result)
    return finish("completed", output=output, usage=as_dict(result.usage),
                  files=files)


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
