"""Volume discounts: a percent off every job, by the customer's lifetime top-ups.

The measure is the money a customer has paid in through top-ups (card, and crypto when it
lands), bonus credits and operator grants excluded. Pure functions plus one query.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int  # lifetime top-ups in micro-USD from which the tier applies
    percent: int


TIERS = (  # ascending; the reference's "5% at $100+, 10% at $500+, 15% at $1000+"
    Tier("standard", 0, 0),
    Tier("bronze", 100_000_000, 5),
    Tier("silver", 500_000_000, 10),
    Tier("gold", 1_000_000_000, 15),
)


def tier_for(lifetime: int) -> Tier:
    """The highest tier whose threshold `lifetime` reaches."""
    return [tier for tier in TIERS if lifetime >= tier.threshold][-1]


def next_tier(lifetime: int) -> Tier | None:
    """The first tier above the one `lifetime` reaches; None at the top."""
    return next((tier for tier in TIERS if tier.threshold > lifetime), None)


def apply(amount: int, percent: int) -> int:
    """`amount` less `percent`; a fraction of a micro-dollar goes to the customer (floor)."""
    if not 0 <= percent <= 100:
        raise ValueError("a discount is 0 to 100 percent")
    return amount * (100 - percent) // 100


def lifetime_topups(session: Session, account_id: int) -> int:
    """Money the account has paid in through top-ups, bonuses excluded (the account's
    counter, which a trigger on `topups` keeps)."""
    return session.execute(text("SELECT lifetime_topups FROM accounts WHERE id = :acct"),
                           {"acct": account_id}).scalar()


def percent_for(session: Session, account_id: int) -> int:
    """The account's discount percent now."""
    return tier_for(lifetime_topups(session, account_id)).percent
