"""Money movements of a customer account: grants, holds at submit, settlement after a job."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import ledger


@dataclass(frozen=True)
class Settlement:
    """What a settled job cost and what went back to the customer."""

    captured: int
    refunded: int
    auto_topup_id: int | None = None  # an auto top-up this settlement armed, to be sent


def grant(session: Session, account_id: int, amount: int, reference: str, memo: str) -> bool:
    """Operator credit: from the system `grants` account to the customer's `available`."""
    if amount <= 0:
        raise ValueError("a grant must be positive")
    source = ledger.ledger_account(session, None, "grants")
    target = ledger.ledger_account(session, account_id, "available")
    return ledger.transfer(session, "grant", reference, source, target, amount, memo=memo)


def hold(session: Session, account_id: int, job_id: uuid.UUID, amount: int) -> None:
    """Reserve a job's estimate; raises ledger.InsufficientFunds when the balance is short."""
    if amount:
        ledger.hold(session, account_id, job_id, amount)


def split(held_amount: int, cost: int) -> Settlement:
    """How a hold divides between capture and refund: the cost, never above the hold."""
    captured = min(max(cost, 0), held_amount)
    return Settlement(captured=captured, refunded=held_amount - captured)


def settle(session: Session, account_id: int, job_id: uuid.UUID, held_amount: int,
           cost: int) -> Settlement:
    """Capture `cost` (capped at the hold) as spent, refund the rest and take the refund off
    the day's spend, once per job, in the caller's transaction and one round trip.

    The ledger's own entry to `settle_money`, for its tests; a job is settled through the SQL
    functions `finish_job` (the worker) and `settle_job` (the settle task), which call it."""
    result = split(held_amount, cost)
    ledger.settle(session, account_id, job_id, result.captured, result.refunded)
    return result


def daily_spend(session: Session, account_id: int) -> int:
    """Captured charges plus open holds of the jobs submitted this UTC day."""
    return session.execute(text(
        "SELECT spent FROM daily_spend WHERE account_id = :acct "
        "AND day = (now() AT TIME ZONE 'utc')::date"), {"acct": account_id}).scalar() or 0
