"""Settling a finished job: price its usage, less the job's volume discount, capture at most
the hold, refund the rest; arm an auto top-up if that leaves the balance low.

Two steps in one transaction: `price` decides the cost and writes it on the job row (locking
only that row), `move_money` posts it. The account's busy rows, the day's spend counter and
then its ledger accounts (the order a submit takes them in, so the two cannot deadlock), are
locked last and held to the commit, so that a caller's work in between (the worker records
the job's final webhook event there) does not make other settlements of the account wait.
"""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.catalog import Catalog

from . import accounts, auto_topup, discounts
from .pricing import actual_cost, cancelled_cost


@dataclass(frozen=True)
class Priced:
    """A final job's settlement, decided and written on its row; the money not moved yet."""

    job_id: uuid.UUID
    account_id: int
    hold: int
    cost: int  # after the discount, before the cap at the hold
    split: accounts.Settlement


# Built once: SQLAlchemy keys its compiled-statement cache on the statement object, so a
# text() rebuilt on every call is parsed and keyed again each time (the hot path's statements).
_LOCK_UNSETTLED = text(
    "SELECT id, account_id, service, model, status, usage, hold_amount, discount_percent "
    "FROM jobs "
    "WHERE id = :id AND settled_at IS NULL "
    "AND status IN ('completed', 'failed', 'cancelled') FOR UPDATE")


_WRITE_COST = text(
    "UPDATE jobs SET actual_cost = :cost, refunded_amount = :refund, discount_amount = "
    ":discount, settled_at = now(), updated_at = now() WHERE id = :id")


def settle_job(session: Session, catalog: Catalog, job_id: uuid.UUID) -> accounts.Settlement | None:
    """Settle the job once and commit; None when it is not final yet or was settled already.

    The result's `auto_topup_id` names an auto top-up armed by this settlement, to be sent.
    """
    priced = price(session, catalog, job_id)
    if priced is None:
        session.rollback()
        return None
    result = move_money(session, priced)
    session.commit()
    return result


def price(session: Session, catalog: Catalog, job_id: uuid.UUID, locked=None
          ) -> Priced | None:
    """In the caller's transaction: lock the final, unsettled job, decide its cost and write
    it (settled_at included); None when it is not final yet or was settled already.

    The job row stays locked to the commit, so concurrent settle deliveries serialise and the
    second one sees `settled_at` set. `locked`: the row (the columns _LOCK_UNSETTLED reads) of
    a job the caller's transaction has just made final, so locked and unsettled (the worker's
    final UPDATE returns it), which spares the SELECT.
    """
    job = locked if locked is not None else session.execute(
        _LOCK_UNSETTLED, {"id": job_id}).one_or_none()
    if job is None:
        return None
    list_cost = _list_cost(catalog, job)
    cost = discounts.apply(list_cost, job.discount_percent)
    split = accounts.split(job.hold_amount, cost)
    session.execute(_WRITE_COST, {"cost": split.captured, "refund": split.refunded,
                                  "id": job.id, "discount": list_cost - cost})
    return Priced(job.id, job.account_id, job.hold_amount, cost, split)


def move_money(session: Session, priced: Priced) -> accounts.Settlement:
    """In the caller's transaction, after `price`: take the refund off the day's spend,
    capture and refund on the ledger, and arm an auto top-up if the balance is now low."""
    result = accounts.settle(session, priced.account_id, priced.job_id, priced.hold,
                             priced.cost)
    armed = auto_topup.arm_if_low(session, priced.account_id)
    return dataclasses.replace(result, auto_topup_id=armed)


def _list_cost(catalog: Catalog, job) -> int:
    """Before discount and cap: a completed job's usage at the catalog price; a job cancelled
    mid-run at the provider, what it used; anything else (failed, cancelled before running or
    between attempts, so no usage recorded) nothing."""
    if job.status == "completed":
        return actual_cost(catalog.get(job.service), job.model, job.usage or {})
    if job.status == "cancelled" and job.usage:
        return cancelled_cost(catalog.get(job.service), job.model, job.usage)
    return 0
