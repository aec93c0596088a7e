"""What follows a job's state changes: webhook events, waiter notifications, budget alerts.

Called by the workers (and by POST /cancel); each step is idempotent, so a redelivered task or
a sweeper pass repeats none of them.
"""
from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.orm import Session

from billing import accounts, ledger
from billing.money import usd

from . import lifecycle, webhooks
from .models import Account, Job
from .status import public_base

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What the notification steps use: the app's config, Celery app and Redis client (and
    its direct round trips, app/redis_direct.py), and the process's batch of delivered final
    events (app/webhook_log.py)."""

    config: dict
    celery: object
    redis: object
    direct: object
    delivered_log: object = None  # None: each row written at once

    @classmethod
    def of(cls, app) -> "Services":
        return cls(app.config, app.extensions["celery"], app.extensions["redis"],
                   app.extensions["redis_direct"], app.extensions.get("delivered_log"))


def _record_and_send(session: Session, services, job_id: uuid.UUID, event_type: str) -> None:
    config = services.config
    delivery = webhooks.record_job_event(session, job_id, event_type, public_base(config),
                                         config["OUTPUT_RETENTION_HOURS"])
    if delivery is not None:
        webhooks.send(services.celery, delivery)


def job_started(session: Session, services, job_id: uuid.UUID, event_wanted: bool = True
                ) -> None:
    """A worker claimed the job: job.started, if asked for (`event_wanted=False`: the caller
    knows it was not). The waiters' nudge goes with the job's read of its breakers
    (workers.finish.JobHealth)."""
    if event_wanted:
        _record_and_send(session, services, job_id, "job.started")


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


def first_attempt(session: Session, services, event: dict, signing: list[str]) -> None:
    """Make the first attempt of a job's final event, bounded by WEBHOOK_INLINE_TIMEOUT_SECONDS,
    then write its delivery row with that attempt logged (`event`: webhooks.insert_params');
    a retry goes to the webhooks workers on the usual schedule.

    Why here and not on the webhooks queue: almost every receiver answers within milliseconds,
    and the queue would cost each job another message, task and claim transaction, and add the
    queue's wait before the client hears of its job. What a production API must not do is let a
    customer's slow endpoint hold the workers that run jobs; so the attempt has a short, hard
    time limit (the whole exchange, not each read), and a receiver that fails it or takes over
    half of it is marked for SLOW_MARK_SECONDS, during which its events skip this path: a slow
    endpoint costs each worker at most one bounded wait per mark, never one per job.

    The row comes after the POST, so that the row and the attempt's log are one statement; a
    delivered attempt's row goes in the process's batch of them (app/webhook_log.py). Only
    the worker that ended the job gets here, so no one else sends the event meanwhile; a worker
    that dies before the row is written leaves the event to the lifecycle sweep, which sends
    it again under the same webhook-id (webhooks.message_id).
    """
    usual = webhooks.DeliverySettings.from_config(services.config)
    settings = dataclasses.replace(usual, timeout=min(
        usual.timeout, services.config["WEBHOOK_INLINE_TIMEOUT_SECONDS"]))
    tried = webhooks.post_signed(webhooks.unsent(event), signing, settings)
    delivered = tried.outcome.status == "delivered"
    if not delivered or tried.latency_ms / 1000 > settings.timeout / 2:
        webhooks.mark_slow(services.redis, event["url"])
    if delivered and services.delivered_log is not None:  # nothing to schedule: batched
        services.delivered_log.add(session.get_bind(), event, tried)
        return
    delivery_id = webhooks.record_tried(session.get_bind(), event, tried)
    if delivery_id is not None:
        webhooks.send_next(services.celery, delivery_id, tried.outcome)


def job_ended(services, job_id: uuid.UUID, webhook_url: str | None, also: tuple = ()
              ) -> bool:
    """A worker wrote the job's final status: wake its waiters, and say whether that worker
    should make the first attempt of its final webhook. Both in one round trip to Redis;
    `also`: the caller's own commands, sent with it (they share its fate if Redis is down).

    The attempt is made there unless inline attempts are off or the receiver is marked slow
    (`webhooks.mark_slow`). Without Redis the waiters poll, and the attempt is made: it
    needs no broker."""
    inline = bool(webhook_url) and services.config["WEBHOOK_INLINE_TIMEOUT_SECONDS"] > 0
    commands = [lifecycle.notify_command(job_id), *also]
    if inline:
        commands.append(("EXISTS", webhooks.slow_key(webhook_url)))
    try:
        replies = services.direct.execute(commands)
    except RedisError as exc:
        log.warning("Redis unavailable at the end of job %s: %s", job_id, exc)
        return inline
    for reply in replies:
        if isinstance(reply, RedisError):
            log.warning("Redis refused a command at the end of job %s: %s", job_id, reply)
    return inline and replies[-1] != 1


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
