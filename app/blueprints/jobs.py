"""POST /run and GET /status/{job_id}."""
from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, request

from .. import lifecycle, payments
from ..auth import current_account
from ..catalog import load_catalog
from ..errors import ApiError
from ..extensions import db
from ..jobs import submit_job, submit_now
from ..models import FINAL_STATUSES, Job
from ..status import public_base, status_object

bp = Blueprint("jobs", __name__)


def json_body():
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.",
                       "Send a JSON object with Content-Type: application/json.")
    return body


@bp.post("/run")
def run():
    catalog, backends = load_catalog(), current_app.extensions["backends"]
    options = lifecycle.run_options(request.headers)
    priority, headers = request.headers.get("X-Priority"), {}
    idempotency_key = request.headers.get("Idempotency-Key")
    if payments.takes_x402():  # no API key: pay with USDC (x402) or get a 402
        submitted, headers = payments.submit_paid(catalog, backends, json_body(), priority,
                                                  options.job_fields)
    elif idempotency_key is not None:  # the key's claim commits with the job
        submitted = submit_job(catalog, backends, current_account().id, json_body(), priority,
                               idempotency_key, options.job_fields)
    else:  # the hot path: two statements, no transaction to open
        submitted = submit_now(catalog, backends, json_body, priority, options.job_fields)
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    elif options.wait:
        return _waited(db.session.get(Job, submitted.job.id), options.wait, headers)
    return Response(submitted.response, 202, headers, mimetype="application/json")


def _waited(job: Job, seconds: int, headers: dict):
    """Prefer: wait=N: the finished job with 200, or the status so far with 202.

    The request holds a web worker while it waits (a blocking Redis read, no polling loop);
    see the README on sizing gunicorn for it.
    """
    job = lifecycle.wait_for_final(db.session, current_app.extensions["redis"], job, seconds)
    body = job_view(job)
    body["status_url"] = body["urls"]["get"]
    code = 200 if job.status in FINAL_STATUSES else 202
    return body, code, {**headers, "Preference-Applied": f"wait={seconds}"}


def job_view(job: Job) -> dict:
    """The public JSON of a job (GET /status, the stream and the webhook body)."""
    config = current_app.config
    return status_object(db.session, job, public_base(config, request.host_url),
                         config["OUTPUT_RETENTION_HOURS"])


def find_job(job_id: str) -> Job:
    """The job with this id, or 404 in the shared shape."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        key = None
    job = db.session.get(Job, key) if key else None
    if job is None:
        raise ApiError(404, "job_not_found", f"No job with id '{job_id}'.",
                       "Use the job_id that POST /run returned.")
    return job


@bp.get("/status/<job_id>")
def status(job_id: str):
    return job_view(find_job(job_id))
