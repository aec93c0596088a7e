"""Celery tasks for webhooks, deadlines and retention: thin wrappers around app/ services."""
from __future__ import annotations

import uuid

from celery import shared_task
from flask import current_app

from app import lifecycle, notifications, retention, webhooks
from app.extensions import db


@shared_task(name="workers.deliver_webhook")
def deliver_webhook(delivery_id: int) -> str | None:
    """Make one attempt of a webhook delivery and schedule the next one if needed."""
    settings = webhooks.DeliverySettings.from_config(current_app.config)
    outcome = webhooks.attempt(db.session, delivery_id, settings)
    if outcome is None:
        return None  # not due, or another delivery of this message has it
    webhooks.send_next(current_app.extensions["celery"], delivery_id, outcome)
    return outcome.status


@shared_task(name="workers.sweep_lifecycle")
def sweep_lifecycle() -> dict:
    """Abort queued jobs past their deadline; re-send due or lost webhook deliveries."""
    services = notifications.Services.of(current_app)
    aborted = lifecycle.abort_all_expired(db.session)
    for job_id in aborted:
        services.celery.send_task("workers.settle_job", args=[str(job_id)], queue="billing")
    missing = notifications.missing_final_events(db.session)
    for job_id in missing:
        notifications.job_settled(db.session, services, uuid.UUID(str(job_id)))
    due = webhooks.due_deliveries(db.session)
    for delivery_id in due:
        webhooks.send(services.celery, delivery_id)
    return {"aborted": len(aborted), "events": len(missing), "deliveries": len(due)}


@shared_task(name="workers.purge_outputs")
def purge_outputs() -> int:
    """Remove outputs past their retention time."""
    return retention.purge_expired_outputs(db.session, current_app.config["OUTPUT_RETENTION_HOURS"])
