"""POST /run and GET /status/{job_id}."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from flask import Blueprint, current_app, request, url_for
from sqlalchemy import select

from billing.money import usd

from .. import payments
from ..auth import current_account
from ..catalog import load_catalog
from ..errors import ApiError
from ..extensions import db
from ..jobs import submit_job
from ..models import Job, JobAttempt

bp = Blueprint("jobs", __name__)
FILE_PATH = re.compile(r"^/files/[A-Za-z0-9_-]{20,64}$")


def json_body():
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.",
                       "Send a JSON object with Content-Type: application/json.")
    return body


@bp.post("/run")
def run():
    catalog, backends = load_catalog(), current_app.extensions["backends"]
    priority, headers = request.headers.get("X-Priority"), {}
    if payments.takes_x402():  # no API key: pay with USDC (x402) or get a 402
        submitted, headers = payments.submit_paid(catalog, backends, json_body(), priority)
    else:
        submitted = submit_job(catalog, backends, current_account().id, json_body(), priority)
    job = submitted.job
    status_url = url_for("jobs.status", job_id=job.id, _external=True)
    return {"job_id": str(job.id), "status": job.status, "service": job.service,
            "model": job.model, "status_url": status_url,
            "estimated_cost_usd": usd(submitted.estimate)}, 202, headers


def _absolute_files(value, base: str):
    """Turn stored /files/<token> paths into URLs on this origin."""
    if isinstance(value, str) and FILE_PATH.match(value):
        return base.rstrip("/") + value
    if isinstance(value, dict):
        return {key: _absolute_files(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [_absolute_files(item, base) for item in value]
    return value


def _progress(job: Job) -> dict:
    now = datetime.now(timezone.utc)
    elapsed = ((job.finished_at or now) - (job.started_at or job.created_at)).total_seconds()
    service = load_catalog().get(job.service)
    expected = service.estimated_seconds if service else 10.0
    percent = {"queued": 0, "running": min(95, int(100 * elapsed / max(expected, 0.1)))}
    return {"phase": job.status, "percent_estimate": percent.get(job.status, 100),
            "elapsed_seconds": round(max(elapsed, 0.0), 3)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def job_view(job: Job, attempts: list[JobAttempt]) -> dict:
    """The public JSON of a job (GET /status, and later the webhook body)."""
    base = current_app.config["PUBLIC_BASE_URL"] or request.host_url
    settled = job.settled_at is not None
    return {
        "id": str(job.id), "job_id": str(job.id), "service": job.service, "model": job.model,
        "status": job.status, "progress": _progress(job),
        "output": _absolute_files(job.output, base), "error": job.error, "usage": job.usage,
        "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
        "completed_at": _iso(job.finished_at),
        "estimated_cost_usd": usd(job.estimated_cost),
        "cost_usd": usd(job.actual_cost) if settled else None,
        "refunded": bool(job.refunded_amount) if settled else False,
        "refund_amount_usd": usd(job.refunded_amount) if settled else None,
        "settled": settled,
        "attempts": [{"backend": a.backend, "outcome": a.outcome, "error": a.error,
                      "seconds": round(a.seconds, 3)} for a in attempts],
        "urls": {"get": url_for("jobs.status", job_id=job.id, _external=True)},
    }


@bp.get("/status/<job_id>")
def status(job_id: str):
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        key = None
    job = db.session.get(Job, key) if key else None
    if job is None:
        raise ApiError(404, "job_not_found", f"No job with id '{job_id}'.",
                       "Use the job_id that POST /run returned.")
    attempts = db.session.execute(select(JobAttempt).where(JobAttempt.job_id == job.id)
                                  .order_by(JobAttempt.id)).scalars().all()
    return job_view(job, attempts)
