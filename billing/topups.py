"""Crediting money paid in: card packages, bonuses, cents to micro-USD, once per payment."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import ledger

MICROS_PER_CENT = 10_000
MIN_TOPUP = 10_000_000  # $10, the reference's card minimum
MAX_TOPUP = 10_000_000_000  # $10,000 in one payment


@dataclass(frozen=True)
class Package:
    key: str
    amount: int
    bonus_percent: int


# The reference gives +5% / +10% / +15% for its $25 / $50 / $100 crypto packages and says card
# top-ups carry "bonus credits on $25/$50/$100"; the card packages use the same percentages.
PACKAGES = {p.key: p for p in (Package("credits_25", 25_000_000, 5),
                               Package("credits_50", 50_000_000, 10),
                               Package("credits_100", 100_000_000, 15))}


class TopupError(ValueError):
    """Raised when a top-up request names an amount or package we do not sell."""


def cents_to_micros(cents: int) -> int:
    """Stripe's integer cents to micro-USD, exactly."""
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise TypeError("cents are ints")
    return cents * MICROS_PER_CENT


def micros_to_cents(micros: int) -> int:
    """Micro-USD to Stripe cents; refuses amounts that are not whole cents."""
    cents, rest = divmod(micros, MICROS_PER_CENT)
    if rest:
        raise TopupError("card amounts are whole cents")
    return cents


def package_for(amount: int) -> Package | None:
    """The package sold at exactly `amount`, if any: $25 paid by amount is the $25 package."""
    return next((p for p in PACKAGES.values() if p.amount == amount), None)


def check_amount(amount: int) -> int:
    """`amount` if it is a whole-cent amount from $10 to $10,000; TopupError otherwise."""
    if not MIN_TOPUP <= amount <= MAX_TOPUP:
        raise TopupError("a card top-up is $10 to $10,000")
    micros_to_cents(amount)
    return amount


def bonus_for(package_key: str | None, paid: int) -> int:
    """Bonus credit for a package payment, on what was actually paid (floor)."""
    package = PACKAGES.get(package_key or "")
    return paid * package.bonus_percent // 100 if package else 0


def credit(session: Session, account_id: int, source: str, reference: str, paid: int,
           bonus: int, memo: str, funding: str = "payments") -> bool:
    """Record the payment and credit paid + bonus, in the caller's transaction; once per
    `reference` (False when it was credited before). `funding` is the system account the
    money came through (`payments` for cards, `usdc_deposits` for USDC)."""
    topup_id = session.execute(text(
        "INSERT INTO topups (account_id, source, reference, paid_amount, bonus_amount) "
        "VALUES (:acct, :source, :ref, :paid, :bonus) ON CONFLICT (reference) DO NOTHING "
        "RETURNING id"), {"acct": account_id, "source": source, "ref": reference,
                          "paid": paid, "bonus": bonus}).scalar()
    if topup_id is None:
        return False
    legs = [ledger.Leg(ledger.ledger_account(session, None, funding), -paid),
            ledger.Leg(ledger.ledger_account(session, None, "bonuses"), -bonus),
            ledger.Leg(ledger.ledger_account(session, account_id, "available"), paid + bonus)]
    return ledger.post(session, "topup", reference, legs, memo=memo)
