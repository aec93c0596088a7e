"""The daily spending limit, decided by the database under concurrency."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from .accounts import daily_spend

MIN_DAILY_LIMIT = 1_000_000  # $1
MAX_DAILY_LIMIT = 10_000_000_000  # $10,000


@dataclass(frozen=True)
class DailyLimitRefusal:
    """Why the day's limit refused a job (the SQL function create_job decides it, counting
    and holding under the day's counter row lock): the limit, the spend so far, the cost."""

    limit: int
    spent: int
    needed: int


def refusal(session: Session, account_id: int, needed: int) -> DailyLimitRefusal:
    """The figures of a refused job's 429, read after the refusal."""
    limit = session.execute(text("SELECT daily_limit FROM accounts WHERE id = :id"),
                            {"id": account_id}).scalar_one()
    return DailyLimitRefusal(limit, daily_spend(session, account_id), needed)


def set_daily_limit(session: Session, account_id: int, limit: int) -> None:
    """Set the limit ($1 to $10,000); ValueError outside that range."""
    if not MIN_DAILY_LIMIT <= limit <= MAX_DAILY_LIMIT:
        raise ValueError("the daily limit is $1 to $10,000")
    session.execute(text("UPDATE accounts SET daily_limit = :limit WHERE id = :id"),
                    {"limit": limit, "id": account_id})
