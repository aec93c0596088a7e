"""Job lifecycle: cancel, the Cancel-After deadline, Prefer: wait, and finish notifications.

Every state change is a conditional UPDATE: a cancel races a worker's claim safely, because
only one of `queued -> cancelled` and `queued -> running` can win.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import ApiError
from .models import FINAL_STATUSES, Job

MAX_WAIT_SECONDS = 60
POLL_SECONDS = 2.0  # the row is re-read at least this often, should a notification be lost
SETTLE_GRACE_SECONDS = 5.0  # after the final status, how long to wait for the final cost
CANCELLED = json.dumps({"message": "the job was cancelled", "code": "cancelled"})
DEADLINE = json.dumps({"message": "the job passed its Cancel-After deadline",
                       "code": "deadline_exceeded"})


def channel(job_id) -> str:
    return f"gpubridge:job:{job_id}"


@dataclass(frozen=True)
class RunOptions:
    """What POST /run's headers ask for beyond the body."""

    wait: int | None = None
    job_fields: dict = field(default_factory=dict)


def parse_cancel_after(value: str | None, now: datetime | None = None) -> datetime | None:
    """Cancel-After as seconds from now or an HTTP date; 400 for anything else."""
    if value is None or not value.strip():
        return None
    now = now or datetime.now(timezone.utc)
    raw = value.strip()
    if raw.isdigit():
        return now + timedelta(seconds=int(raw))
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(400, "invalid_cancel_after", "Cancel-After must be a number of seconds "
                       "or an HTTP date.", "Send e.g. Cancel-After: 300, or "
                       "Cancel-After: Wed, 21 Oct 2026 07:28:00 GMT.", field="Cancel-After")
    return moment


def parse_prefer_wait(value: str | None) -> int | None:
    """The N of `Prefer: wait=N` (RFC 7240), capped at MAX_WAIT_SECONDS; None when absent."""
    for preference in (value or "").split(","):
        name, _, number = preference.strip().partition("=")
        if name.strip().lower() == "wait" and number.strip().isdigit():
            return min(int(number.strip()), MAX_WAIT_SECONDS)
    return None


def run_options(headers) -> RunOptions:
    """Parse the lifecycle headers of POST /run before anything is written."""
    deadline = parse_cancel_after(headers.get("Cancel-After"))
    return RunOptions(wait=parse_prefer_wait(headers.get("Prefer")),
                      job_fields={"cancel_after": deadline} if deadline else {})


def cancel_job(session: Session, job: Job) -> str:
    """Cancel a queued job outright, or ask the worker to stop a running one.

    Returns the job's status afterwards; 409 when it had already finished.
    """
    done = session.execute(text(
        "UPDATE jobs SET status = 'cancelled', error = CAST(:error AS JSONB), "
        "cancel_requested_at = now(), finished_at = now(), updated_at = now() "
        "WHERE id = :id AND status = 'queued' RETURNING id"),
        {"id": job.id, "error": CANCELLED}).scalar()
    if done is None:
        session.execute(text(
            "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now()), "
            "updated_at = now() WHERE id = :id AND status = 'running'"), {"id": job.id})
    session.commit()
    session.refresh(job)
    if job.status in FINAL_STATUSES and job.status != "cancelled":
        raise ApiError(409, "job_finished", f"The job is already {job.status}.",
                       "Only queued or running jobs can be cancelled.", status=job.status)
    return job.status


def abort_if_expired(session: Session, job_id: uuid.UUID) -> bool:
    """Cancel a queued job whose Cancel-After deadline passed; True if this call did it."""
    done = session.execute(text(
        "UPDATE jobs SET status = 'cancelled', error = CAST(:error AS JSONB), "
        "finished_at = now(), updated_at = now() "
        "WHERE id = :id AND status = 'queued' AND cancel_after <= now() RETURNING id"),
        {"id": job_id, "error": DEADLINE}).scalar()
    session.commit()
    return done is not None


def abort_all_expired(session: Session) -> list[uuid.UUID]:
    """Cancel every queued job past its deadline (the sweep: no worker reached them)."""
    rows = session.execute(text(
        "UPDATE jobs SET status = 'cancelled', error = CAST(:error AS JSONB), "
        "finished_at = now(), updated_at = now() "
        "WHERE status = 'queued' AND cancel_after <= now() RETURNING id"),
        {"error": DEADLINE}).scalars().all()
    session.commit()
    return list(rows)


def should_stop(session: Session, job_id: uuid.UUID) -> str | None:
    """Why a running job must stop (a cancel request or its deadline), or None."""
    row = session.execute(text(
        "SELECT cancel_requested_at IS NOT NULL AS asked, cancel_after <= now() AS late "
        "FROM jobs WHERE id = :id"), {"id": job_id}).one_or_none()
    session.commit()
    if row is None:
        return None
    return stop_reason(row.asked, row.late)


def stop_reason(cancel_asked: bool, past_deadline: bool) -> str | None:
    """The error a running job stops with: a cancel request wins over its deadline."""
    return CANCELLED if cancel_asked else DEADLINE if past_deadline else None


def notify(redis, job_id) -> None:
    """Tell waiters (Prefer: wait, the SSE stream) that the job changed; best effort."""
    try:
        redis.publish(channel(job_id), "changed")
    except Exception:  # waiters also re-read the row every POLL_SECONDS
        pass


def notify_command(job_id) -> tuple:
    """`notify` as a command of the caller's round trip (app/redis_direct.py)."""
    return ("PUBLISH", channel(job_id), "changed")


def wait_for_change(pubsub, timeout: float) -> None:
    """Block until a notification arrives or `timeout` passes (never busy: a blocking read)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None:
            return


def ended(job: Job, final_since: float | None, now: float) -> bool:
    """A job has ended for a waiter once it is settled (its cost is final), or SETTLE_GRACE
    seconds after its final status should billing be slow."""
    return job.settled_at is not None or (
        final_since is not None and now - final_since >= SETTLE_GRACE_SECONDS)


def wait_for_final(session: Session, redis, job: Job, timeout: float) -> Job:
    """Wait up to `timeout` seconds for the job to end (see `ended`); returns it fresh."""
    deadline = time.monotonic() + timeout
    final_since = None
    pubsub = redis.pubsub()
    try:
        pubsub.subscribe(channel(job.id))  # subscribe first, then read: no change is missed
        while True:
            session.refresh(job)
            now = time.monotonic()
            if job.status in FINAL_STATUSES:
                final_since = final_since or now
            if ended(job, final_since, now) or now >= deadline:
                return job
            wait_for_change(pubsub, min(deadline - now, POLL_SECONDS))
    finally:
        pubsub.close()
