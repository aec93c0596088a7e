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
    """Check that `amount` fits under today's limit, in the caller's (submit) transaction.

    The account row is locked FOR UPDATE until that transaction ends, so concurrent submits
    of one account take turns: each sees the holds the previous ones committed.
    """
    limit = session.execute(text(
        "SELECT daily_limit FROM accounts WHERE id = :id FOR UPDATE"),
        {"id": account_id}).scalar_one()
    spent = daily_spend(session, account_id)
    if spent + amount > limit:
        raise DailyLimitExceeded(limit, spent, amount)


def set_daily_limit(session: Session, account_id: int, limit: int) -> None:
    """Set the limit ($1 to $10,000); ValueError outside that range."""
    if not MIN_DAILY_LIMIT <= limit <= MAX_DAILY_LIMIT:
        raise ValueError("the daily limit is $1 to $10,000")
    session.execute(text("UPDATE accounts SET daily_limit = :limit WHERE id = :id"),
                    {"limit": limit, "id": account_id})
