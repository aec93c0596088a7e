"""What follows a job's state changes: webhook events, waiter notifications, budget alerts.

Called by the workers (and by POST /cancel); each step is idempotent, so a redelivered task or
a sweeper pass repeats none of them.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from billing import accounts, ledger
from billing.money import usd

from . import lifecycle, webhooks
from .models import Account, Job
from .status import public_base


@dataclass(frozen=True)
class Services:
    """What the notification steps use: the app's config, Celery app and Redis client."""

    config: dict
    celery: object
    redis: object

    @classmethod
    def of(cls, app) -> "Services":
        return cls(app.config, app.extensions["celery"], app.extensions["redis"])


def _record_and_send(session: Session, services, job_id: uuid.UUID, event_type: str) -> None:
    config = services.config
    delivery = webhooks.record_job_event(session, job_id, event_type, public_base(config),
                                         config["OUTPUT_RETENTION_HOURS"])
    if delivery is not None:
        webhooks.send(services.celery, delivery)


def job_started(session: Session, services, job_id: uuid.UUID) -> None:
    """A worker claimed the job: job.started (if asked for) and a nudge to waiters."""
    _record_and_send(session, services, job_id, "job.started")
    lifecycle.notify(services.redis, job_id)


def job_finished(session: Session, services, job_id: uuid.UUID) -> None:
    """The job reached a final status: wake waiters (the webhook waits for settlement)."""
    lifecycle.notify(services.redis, job_id)


def job_settled(session: Session, services, job_id: uuid.UUID) -> None:
    """The job's cost is final: its final event (with the cost in it) and budget alerts."""
    job = session.get(Job, job_id)
    found = (job.status, job.account_id, job.settled_at) if job is not None else None
    session.commit()  # hold no lock while Redis and the broker are called
    if found is None or found[2] is None:
        return
    status, account_id, _settled = found
    _record_and_send(session, services, job_id, webhooks.FINAL_EVENTS[status])
    lifecycle.notify(services.redis, job_id)
    budget_alerts(session, services, account_id)


def budget_alerts(session: Session, services, account_id: int) -> None:
    """Post account.balance_low / account.daily_limit_reached, at most once per UTC day each."""
    account = session.get(Account, account_id)
    if account is None or not account.alert_webhook_url:
        session.commit()
        return
    day = datetime.now(timezone.utc).date().isoformat()
    balance = ledger.balance(session, account_id)
    spent = accounts.daily_spend(session, account_id)
    alerts = []
    if account.alert_balance_below is not None and balance < account.alert_balance_below:
        alerts.append(("account.balance_low", {"balance_usd": usd(balance),
                                               "threshold_usd": usd(account.alert_balance_below)}))
    if spent >= account.daily_limit:
        alerts.append(("account.daily_limit_reached", {"daily_spend_usd": usd(spent),
                                                       "daily_limit_usd": usd(account.daily_limit)}))
    session.commit()
    for event_type, data in alerts:
        delivery = webhooks.record_account_event(
            session, account_id, account.alert_webhook_url, f"{account_id}:{event_type}:{day}",
            event_type, {"account_id": account_id, "date": day, **data})
        if delivery is not None:
            webhooks.send(services.celery, delivery)


def missing_final_events(session: Session, grace_seconds: int = 30) -> list[uuid.UUID]:
    """Settled jobs with a webhook but no final event yet (a worker died in between)."""
    return session.execute(text(
        "SELECT j.id FROM jobs j WHERE j.webhook_url IS NOT NULL AND j.settled_at IS NOT NULL "
        "AND j.settled_at < now() - make_interval(secs => :grace) "
        "AND j.settled_at > now() - interval '1 day' AND NOT EXISTS (SELECT 1 FROM "
        "webhook_deliveries d WHERE d.event_key = j.id::text || :sep || j.status)"),
        {"grace": grace_seconds, "sep": ":job."}).scalars().all()
