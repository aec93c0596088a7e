"""The daily spending limit, decided by the database under concurrency."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from .accounts import daily_spend

MIN_DAILY_LIMIT = 1_000_000  # $1
MAX_DAILY_LIMIT = 10_000_000_000  # $10,000


class DailyLimitExceeded(Exception):
    """Raised when a hold would take the UTC day's spend past the account's limit."""

    def __init__(self, limit: int, spent: int, needed: int):
        super().__init__(f"daily limit {limit} reached: spent {spent}, needs {needed}")
        self.limit, self.spent, self.needed = limit, spent, needed


def reserve_daily(session: Session, account_id: int, amount: int) -> None:
    """Add `amount` to today's spend if it fits under the limit, in the caller's (submit)
    transaction; DailyLimitExceeded otherwise.

    One conditional upsert on the (account, day) counter decides: concurrent submits of one
    account queue on that row and each sees what the previous ones added.
    """
    added = session.execute(text(
        "INSERT INTO daily_spend AS d (account_id, day, spent) "
        "SELECT id, (now() AT TIME ZONE 'utc')::date, :amount FROM accounts "
        "WHERE id = :id AND :amount <= daily_limit "
        "ON CONFLICT (account_id, day) DO UPDATE SET spent = d.spent + :amount "
        "WHERE d.spent + :amount <= (SELECT daily_limit FROM accounts WHERE id = :id) "
        "RETURNING spent"), {"id": account_id, "amount": amount}).scalar()
    if added is None:
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
