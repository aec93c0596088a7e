"""Settling a finished job: price its usage, less the job's volume discount, capture at most
the hold, refund the rest; arm an auto top-up if that leaves the balance low."""
from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.catalog import Catalog

from . import accounts, auto_topup, discounts, limits
from .pricing import actual_cost, cancelled_cost


def settle_job(session: Session, catalog: Catalog, job_id: uuid.UUID) -> accounts.Settlement | None:
    """Settle the job once; None when it is not final yet or was settled already.

    The result's `auto_topup_id` names an auto top-up armed by this settlement, to be sent.

    The job row is locked for the transaction, so concurrent settle deliveries serialise and
    the second one sees `settled_at` set.
    """
    job = session.execute(text(
        "SELECT id, account_id, service, model, status, usage, hold_amount, discount_percent "
        "FROM jobs "
        "WHERE id = :id AND settled_at IS NULL "
        "AND status IN ('completed', 'failed', 'cancelled') FOR UPDATE"),
        {"id": job_id}).one_or_none()
    if job is None:
        session.rollback()
        return None
    list_cost = _list_cost(catalog, job)
    cost = discounts.apply(list_cost, job.discount_percent)
    result = accounts.settle(session, job.account_id, job.id, job.hold_amount, cost)
    limits.release_daily(session, job.id, result.refunded)
    session.execute(text(
        "UPDATE jobs SET actual_cost = :cost, refunded_amount = :refund, discount_amount = "
        ":discount, settled_at = now(), updated_at = now() WHERE id = :id"),
        {"cost": result.captured, "refund": result.refunded, "id": job.id,
         "discount": list_cost - cost})
    armed = auto_topup.arm_if_low(session, job.account_id)
    session.commit()
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
