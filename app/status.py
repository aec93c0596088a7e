"""The public status object of a job: GET /status, the SSE stream and the webhook body.

Built from the database alone with an explicit origin, so a worker (no request) builds the same
object the API serves.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from billing.money import usd

from .catalog import load_catalog
from .models import Job, JobAttempt

FILE_PATH = re.compile(r"^/files/[A-Za-z0-9_-]{20,64}$")
_attempts = JobAttempt.__table__
# A job's attempts, oldest first: Core rows (what the status shows are plain columns), one
# statement built once; every status read and every webhook body runs it.
_ATTEMPTS = select(_attempts.c.backend, _attempts.c.outcome, _attempts.c.error,
                   _attempts.c.error_class, _attempts.c.seconds) \
    .where(_attempts.c.job_id == bindparam("job_id")).order_by(_attempts.c.id)


def absolute_files(value, base: str):
    """Turn stored /files/<token> paths into URLs on this origin."""
    if isinstance(value, str) and FILE_PATH.match(value):
        return base.rstrip("/") + value
    if isinstance(value, dict):
        return {key: absolute_files(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [absolute_files(item, base) for item in value]
    return value


def progress(job: Job) -> dict:
    now = datetime.now(timezone.utc)
    elapsed = ((job.finished_at or now) - (job.started_at or job.created_at)).total_seconds()
    service = load_catalog().get(job.service)
    expected = service.estimated_millis / 1000 if service else 10.0  # a progress hint only
    percent = {"queued": 0, "running": min(95, int(100 * elapsed / max(expected, 0.1)))}
    return {"phase": job.status, "percent_estimate": percent.get(job.status, 100),
            "elapsed_seconds": round(max(elapsed, 0.0), 3)}


def queue_position(session: Session, job: Job) -> int | None:
    """1 for the next queued job of its family; None once it left the queue."""
    if job.status != "queued":
        return None
    ahead = session.execute(select(func.count()).select_from(Job).where(
        Job.status == "queued", Job.family == job.family,
        Job.created_at < job.created_at)).scalar()
    return ahead + 1


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _cost(job: Job) -> dict:
    settled = job.settled_at is not None
    return {"estimated_usd": usd(job.estimated_cost),
            "actual_usd": usd(job.actual_cost) if settled else None,
            "refunded_usd": usd(job.refunded_amount) if settled else None,
            "discount_usd": usd(job.discount_amount) if settled else None,
            "discount_percent": job.discount_percent}


def _timestamps(job: Job, retention_hours: int) -> dict:
    expires = job.finished_at + timedelta(hours=retention_hours) if job.finished_at else None
    return {"created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
            "completed_at": _iso(job.finished_at), "settled_at": _iso(job.settled_at),
            "cancel_after": _iso(job.cancel_after),
            "cancel_requested_at": _iso(job.cancel_requested_at),
            "output_expires_at": _iso(job.output_expired_at or expires)}


def _urls(job: Job, base: str) -> dict:
    root = base.rstrip("/")
    return {"get": f"{root}/status/{job.id}", "stream": f"{root}/status/{job.id}/stream",
            "cancel": f"{root}/cancel/{job.id}"}


def status_object(session: Session, job: Job, base: str, retention_hours: int = 24,
                  attempts: list | None = None) -> dict:
    """The public JSON of a job (a Job, or a row of the jobs table), with file and action URLs
    on `base`. `attempts`: its job_attempts rows, oldest first, if the caller read them."""
    if attempts is None:
        attempts = session.execute(_ATTEMPTS, {"job_id": job.id}).all()
    settled, cost = job.settled_at is not None, _cost(job)
    return {
        "id": str(job.id), "job_id": str(job.id), "service": job.service, "model": job.model,
        "status": job.status, "progress": progress(job),
        "queue_position": queue_position(session, job),
        "output": absolute_files(job.output, base), "output_expired": bool(job.output_expired_at),
        "error": job.error, "usage": job.usage,
        **_timestamps(job, retention_hours),
        "estimated_cost_usd": cost["estimated_usd"], "cost_usd": cost["actual_usd"],
        "refunded": bool(job.refunded_amount) if settled else False,
        "refund_amount_usd": cost["refunded_usd"],
        "discount_percent": job.discount_percent, "discount_usd": cost["discount_usd"],
        "settled": settled, "cost": cost,
        "attempts": [{"backend": a.backend, "outcome": a.outcome, "error": a.error,
                      "error_class": a.error_class, "seconds": round(a.seconds, 3)}
                     for a in attempts],
        "urls": _urls(job, base),
    }


def public_base(config, request_host_url: str | None = None) -> str:
    """The origin for URLs in status objects: the configured one, the request's, or local."""
    return (config.get("PUBLIC_BASE_URL") or request_host_url
            or f"http://127.0.0.1:{config.get('PORT', 8000)}")
