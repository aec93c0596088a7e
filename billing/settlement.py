"""Settling a finished job: price its usage, less the job's volume discount, capture at most
the hold, refund the rest; arm an auto top-up if that leaves the balance low.

The price is decided here, in Python (`quote`, from the catalog); the SQL function
`settle_job` (migration 0010) writes it on the job row, moves the money and arms the auto
top-up in one call. The worker that ends a job settles it inside its final statement
(`finish_job`); this module's `settle_job` settles a job left final but unsettled.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.catalog import Catalog

from . import accounts, discounts
from .pricing import actual_cost, cancelled_cost


@dataclass(frozen=True)
class Quote:
    """What a final job costs: the split of its hold, and the discount taken off."""

    split: accounts.Settlement
    discount: int


# Built once: SQLAlchemy keys its compiled-statement cache on the statement object, so a
# text() rebuilt on every call is parsed and keyed again each time.
_LOCK_UNSETTLED = text(
    "SELECT id, account_id, service, model, status, usage, hold_amount, discount_percent "
    "FROM jobs "
    "WHERE id = :id AND settled_at IS NULL "
    "AND status IN ('completed', 'failed', 'cancelled') FOR UPDATE")
_SETTLE = text("SELECT settle_job(:id, :owner, :captured, :refunded, :discount)")


def quote(catalog: Catalog, job) -> Quote:
    """The settlement of a final job; `job` is anything with its service, model, status,
    usage, hold_amount and discount_percent (a row, or what the worker knows at its end)."""
    list_cost = _list_cost(catalog, job)
    cost = discounts.apply(list_cost, job.discount_percent)
    return Quote(accounts.split(job.hold_amount, cost), list_cost - cost)


def settle_job(session: Session, catalog: Catalog, job_id: uuid.UUID) -> accounts.Settlement | None:
    """Settle the job once and commit; None when it is not final yet or was settled already.

    The job row stays locked to the commit, so concurrent settle deliveries serialise and the
    second one sees `settled_at` set. The result's `auto_topup_id` names an auto top-up armed
    by this settlement, to be sent.
    """
    job = session.execute(_LOCK_UNSETTLED, {"id": job_id}).one_or_none()
    if job is None:
        session.rollback()
        return None
    quoted = quote(catalog, job)
    armed = session.execute(_SETTLE, {
        "id": job.id, "owner": job.account_id, "captured": quoted.split.captured,
        "refunded": quoted.split.refunded, "discount": quoted.discount}).scalar()
    session.commit()
    return accounts.Settlement(quoted.split.captured, quoted.split.refunded, armed)


def _list_cost(catalog: Catalog, job) -> int:
    """Before discount and cap: a completed job's usage at the catalog price; a job cancelled
    mid-run at the provider, what it used; anything else (failed, cancelled before running or
    between attempts, so no usage recorded) nothing."""
    if job.status == "completed":
        return actual_cost(catalog.get(job.service), job.model, job.usage or {})
    if job.status == "cancelled" and job.usage:
        return cancelled_cost(catalog.get(job.service), job.model, job.usage)
    return 0
