"""A job's end in the worker that ran it: settled with its final status, then announced.

The transaction that makes a job final also settles it and records its final webhook event, so
for every job that ends in a worker "final" comes with "settled" and with the event's delivery
row, at once. That work runs in a savepoint: should it fail (a pricing bug, a deadlock with a
concurrent submit), only the savepoint is undone, the final status still commits, and the
`workers.settle_job` task settles the job later, as every job once was settled (it is sent at
once, and re-sent by the sweeper should that message be lost). A worker killed after the
commit leaves a settled job whose event the lifecycle sweep delivers.
"""
from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app import lifecycle, notifications, webhook_signing, webhooks
from app.catalog import Catalog
from app.models import Account, Job
from app.status import public_base
from billing import settlement

log = logging.getLogger(__name__)
_jobs, _accounts = Job.__table__, Account.__table__
# The settled row as the final transaction sees it, and whether its account has budget alerts:
# Core, built once (no ORM state to build or refresh, no statement to compile per job).
_SETTLED_JOB = select(_jobs, _accounts.c.alert_webhook_url.is_not(None).label("alerts")) \
    .join(_accounts, _accounts.c.id == _jobs.c.account_id) \
    .where(_jobs.c.id == bindparam("job_id"))


@dataclass(frozen=True)
class Settled:
    """What the final transaction did besides the final status."""

    account_id: int
    auto_topup_id: int | None = None  # an auto top-up the settlement armed, to be sent
    claimed: object = None  # the final event's delivery, claimed for a first attempt here
    signing: tuple[str, ...] = ()  # the secrets to sign that attempt with
    queued: int | None = None  # the final event's delivery, for the webhooks workers
    alerts: bool = True  # the account has budget alerts to check


class SettleOnFinish:
    """`execute`'s on_final: settle the job and record its final event, in a savepoint.

    `first_attempt_here`: write the event claimed for a first attempt by this worker (see
    notifications.first_attempt), else pending for the webhooks workers. `result` is None
    when nothing was done, and the settle task must do it.
    """

    def __init__(self, catalog: Catalog, config, first_attempt_here: bool):
        self.catalog, self.config = catalog, config
        self.first_attempt_here = first_attempt_here
        self.result: Settled | None = None

    def __call__(self, session: Session, final) -> None:
        try:
            with session.begin_nested():
                self.result = self._settle(session, final)
        except Exception:  # the final status commits all the same; the settle task retries
            log.exception("settling job %s with its final status failed", final.id)
            self.result = None

    def _settle(self, session: Session, final) -> Settled | None:
        priced = settlement.price(session, self.catalog, final.id, locked=final)
        # The event first: money moves last, so the account's rows stay locked only briefly.
        announced = self._final_event(session, final.id)
        moved = settlement.move_money(session, priced)
        return dataclasses.replace(announced, auto_topup_id=moved.auto_topup_id)

    def _final_event(self, session: Session, job_id: uuid.UUID) -> Settled:
        """Write the final event's delivery, claimed for a first attempt here or pending."""
        job = session.execute(_SETTLED_JOB, {"job_id": job_id}).one()
        found = Settled(job.account_id, alerts=job.alerts)
        if not job.webhook_url:
            return found
        lease = self.config["WEBHOOK_INLINE_TIMEOUT_SECONDS"] + webhooks.LEASE_GRACE_SECONDS
        row = webhooks.job_event(session, job, webhooks.FINAL_EVENTS[job.status],
                                 public_base(self.config), self.config["OUTPUT_RETENTION_HOURS"],
                                 claim_seconds=lease if self.first_attempt_here else None)
        if row is None:  # the event exists already: someone else sends it
            return found
        if not self.first_attempt_here:
            return dataclasses.replace(found, queued=row.id)
        signing = tuple(webhook_signing.signing_secrets(session, job.account_id))
        return dataclasses.replace(found, claimed=row, signing=signing)


def after_commit(session: Session, services, job_id: uuid.UUID, settled: Settled | None
                 ) -> None:
    """What follows a job's final commit: wake its waiters, then its auto top-up, webhook and
    budget alerts; or, if it was not settled, the settle task that will do all that."""
    lifecycle.notify(services.redis, job_id)
    if settled is None:
        services.celery.send_task("workers.settle_job", args=[str(job_id)], queue="billing")
        return
    if settled.auto_topup_id is not None:
        services.celery.send_task("workers.auto_topup", args=[settled.auto_topup_id],
                                  queue="billing")
    if settled.claimed is not None:
        notifications.first_attempt(session, services, settled.claimed, list(settled.signing))
    elif settled.queued is not None:
        webhooks.send(services.celery, settled.queued)
    if settled.alerts:
        notifications.budget_alerts(session, services, settled.account_id)
