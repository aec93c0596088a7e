"""The daily spending limit, decided by the database under concurrency."""
from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from . import ledger
from .accounts import daily_spend

MIN_DAILY_LIMIT = 1_000_000  # $1
MAX_DAILY_LIMIT = 10_000_000_000  # $10,000


class DailyLimitExceeded(Exception):
    """Raised when a hold would take the UTC day's spend past the account's limit."""

    def __init__(self, limit: int, spent: int, needed: int):
        super().__init__(f"daily limit {limit} reached: spent {spent}, needs {needed}")
        self.limit, self.spent, self.needed = limit, spent, needed


def reserve_job(session: Session, account_id: int, job_id: uuid.UUID, amount: int) -> None:
    """Count a new job's estimate against today's spend and hold it, in the caller's (submit)
    transaction and one round trip (the SQL function `reserve_job`, migration 0007).

    Raises DailyLimitExceeded (nothing counted or held) or ledger.InsufficientFunds. The
    day's counter row decides the limit: concurrent submits of one account queue on it and
    each sees what the previous ones added."""
    try:
        fits = session.execute(text("SELECT reserve_job(:acct, :job, :amount)"),
                               {"acct": account_id, "job": job_id, "amount": amount}).scalar()
    except DBAPIError as exc:
        ledger.raise_insufficient(exc)
        raise
    if not fits:
        limit = session.execute(text("SELECT daily_limit FROM accounts WHERE id = :id"),
                                {"id": account_id}).scalar_one()
        raise DailyLimitExceeded(limit, daily_spend(session, account_id), amount)


def release_daily(session: Session, job_id, refunded: int) -> None:
    """Take a settled job's refund off the spend of the day it was submitted."""
    if refunded:
        session.execute(text(
            "UPDATE daily_spend SET spent = spent - :refund FROM jobs "
            "WHERE jobs.id = :job AND daily_spend.account_id = jobs.account_id "
            "AND daily_spend.day = (jobs.created_at AT TIME ZONE 'utc')::date"),
            {"refund": refunded, "job": job_id})


def set_daily_limit(session: Session, account_id: int, limit: int) -> None:
    """Set the limit ($1 to $10,000); ValueError outside that range."""
    if not MIN_DAILY_LIMIT <= limit <= MAX_DAILY_LIMIT:
        raise ValueError("the daily limit is $1 to $10,000")
    session.execute(text("UPDATE accounts SET daily_limit = :limit WHERE id = :id"),
                    {"limit": limit, "id": account_id})
