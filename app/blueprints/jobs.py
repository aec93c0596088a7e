"""POST /run and GET /status/{job_id}."""
from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, request


from .. import lifecycle
from ..auth import current_account
from ..catalog import load_catalog
from ..errors import ApiError
from ..extensions import db
from ..jobs import submit_job
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
    account = current_account()
    options = lifecycle.run_options(request.headers)
    submitted = submit_job(load_catalog(), current_app.extensions["backends"], account.id,
                           json_body(), request.headers.get("X-Priority"),
                           request.headers.get("Idempotency-Key"), lifecycle=options.job_fields)
    headers = {"Idempotent-Replayed": "true"} if submitted.replayed else {}
    if options.wait and not submitted.replayed:
        return _waited(submitted.job, options.wait)
    return Response(submitted.response, 202, headers, mimetype="application/json")


def _waited(job: Job, seconds: int):
    """Prefer: wait=N: the finished job with 200, or the status so far with 202.

    The request holds a web worker while it waits (a blocking Redis read, no polling loop);
    see the README on sizing gunicorn for it.
    """
    job = lifecycle.wait_for_final(db.session, current_app.extensions["redis"], job, seconds)
    body = job_view(job)
    body["status_url"] = body["urls"]["get"]
    code = 200 if job.status in FINAL_STATUSES else 202
    return body, code, {"Preference-Applied": f"wait={seconds}"}


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
