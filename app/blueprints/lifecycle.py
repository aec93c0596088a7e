"""POST /cancel/{job_id} and GET /status/{job_id}/stream (server-sent events)."""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, stream_with_context

from billing.settlement import settle_job

from .. import lifecycle, notifications
from ..auth import current_account
from ..catalog import load_catalog
from ..errors import ApiError
from ..extensions import db
from ..models import FINAL_STATUSES, Job
from .jobs import find_job, job_view

bp = Blueprint("lifecycle", __name__)
STREAM_MAX_SECONDS = 600  # a client reconnects after this; a web worker is not held forever


def _owned(job_id: str) -> Job:
    account = current_account()
    job = find_job(job_id)
    if job.account_id != account.id:  # someone else's job looks like no job at all
        raise ApiError(404, "job_not_found", f"No job with id '{job_id}'.",
                       "Use the job_id that POST /run returned.")
    return job


@bp.post("/cancel/<job_id>")
def cancel(job_id: str):
    job = _owned(job_id)
    status = lifecycle.cancel_job(db.session, job)
    if status == "cancelled":  # settle now: a job cancelled before it ran is refunded in full
        settle_job(db.session, load_catalog(), job.id)
        notifications.job_settled(db.session, notifications.Services.of(current_app), job.id)
        db.session.refresh(job)
    return job_view(job), 200 if status == "cancelled" else 202


def _event(name: str, body: dict) -> str:
    return f"event: {name}\ndata: {current_app.json.dumps(body)}\n\n"


def _events(job_id):
    """Yield the status object at each change (and every few seconds) until the job ends.

    It runs after the view returned, maybe with another session: it loads the job itself.
    """
    started = time.monotonic()
    final_since = None
    pubsub = current_app.extensions["redis"].pubsub()
    try:
        pubsub.subscribe(lifecycle.channel(job_id))
        while True:
            job = db.session.get(Job, job_id, populate_existing=True)
            yield _event("status", job_view(job))
            now = time.monotonic()
            if job.status in FINAL_STATUSES:
                final_since = final_since or now
            if lifecycle.ended(job, final_since, now):
                yield _event("end", {"status": job.status})
                return
            if now - started > STREAM_MAX_SECONDS:
                yield _event("timeout", {"status": job.status, "reconnect": True})
                return
            lifecycle.wait_for_change(pubsub, lifecycle.POLL_SECONDS)
    finally:
        pubsub.close()


@bp.get("/status/<job_id>/stream")
def stream(job_id: str):
    job = find_job(job_id)
    return Response(stream_with_context(_events(job.id)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
