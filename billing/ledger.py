"""The double-entry ledger: every balance change is a balanced transaction of entries.

Each customer has three ledger accounts: `available` (what they can spend), `held` (money
reserved for running jobs) and `spent` (captured charges: our revenue is the sum of every
`spent`, kept per customer so settlements never queue on one hot row). System accounts:
`grants` (operator credit), `payments` (money paid in by card), `usdc_deposits` (USDC
top-ups), `x402` (per-request USDC payments) and `bonuses` (package bonuses) may go negative:
they count money that came in from outside. A transaction's (kind, reference) is unique, so
posting it twice changes nothing. Balances move only inside the SQL function `ledger_post`
(migration 0007): a conditional UPDATE per leg that refuses to go below zero, taken in
account-id order so concurrent movements cannot deadlock; for a job's settlement, inside
`settle_money` (migration 0020), which posts the capture and the refund itself once it has
locked the account's rows in that order; and for a new job's hold, inside `create_job`
(migration 0019), which posts its two legs itself, in the same order.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

SYSTEM_ACCOUNTS = {"grants": True, "payments": True, "bonuses": True,  # kind -> may go negative
                   "x402": True, "usdc_deposits": True}  # money received on chain


class InsufficientFunds(Exception):
    """Raised when a leg would take a ledger account below zero; nothing was written."""

    def __init__(self, ledger_account_id: int):
        super().__init__(f"ledger account {ledger_account_id} would go negative")
        self.ledger_account_id = ledger_account_id


@dataclass(frozen=True)
class Leg:
    ledger_account_id: int
    amount: int


def ledger_account(session: Session, owner_id: int | None, kind: str) -> int:
    """The id of the (owner, kind) ledger account, created on first use."""
    allow_negative = owner_id is None and SYSTEM_ACCOUNTS.get(kind, False)
    found = _find_account(session, owner_id, kind)
    if found is not None:
        return found
    session.execute(text(
        "INSERT INTO ledger_accounts (owner_id, kind, balance, allow_negative) "
        "VALUES (:owner, :kind, 0, :neg) ON CONFLICT DO NOTHING"),
        {"owner": owner_id, "kind": kind, "neg": allow_negative})
    return _find_account(session, owner_id, kind)


def _find_account(session: Session, owner_id: int | None, kind: str) -> int | None:
    return session.execute(text(
        "SELECT id FROM ledger_accounts WHERE owner_id IS NOT DISTINCT FROM :owner "
        "AND kind = :kind"), {"owner": owner_id, "kind": kind}).scalar()


def post(session: Session, kind: str, reference: str, legs: list[Leg],
         job_id: uuid.UUID | None = None, memo: str | None = None) -> bool:
    """Write one balanced transaction; False if (kind, reference) was already posted.

    The SQL function `ledger_post` (migration 0007) does the writing in one round trip.
    Runs inside the caller's transaction; on InsufficientFunds the caller must roll back.
    """
    legs = [leg for leg in legs if leg.amount != 0]
    if sum(leg.amount for leg in legs) != 0 or not legs:
        raise ValueError("a ledger transaction's legs must be non-empty and sum to zero")
    return _posted(session, text(
        "SELECT ledger_post(:kind, :ref, :job, :memo, :accounts, :amounts)"),
        {"kind": kind, "ref": reference, "job": job_id, "memo": memo,
         "accounts": [leg.ledger_account_id for leg in legs],
         "amounts": [leg.amount for leg in legs]})


def hold(session: Session, owner_id: int, job_id: uuid.UUID, amount: int) -> bool:
    """Move `amount` from the customer's available to held money for this job, in one
    round trip (the submit path's hot statement); False if this job holds already."""
    return _posted(session, text("SELECT ledger_hold(:owner, :job, :amount)"),
                   {"owner": owner_id, "job": job_id, "amount": amount})


def settle(session: Session, owner_id: int, job_id: uuid.UUID, captured: int,
           refunded: int) -> None:
    """Capture from the customer's held money to spent and refund the rest to available,
    taking the refund off the day's spend: the SQL function `settle_money` (migrations 0009,
    0016, 0020)."""
    _posted(session, text("SELECT settle_money(:owner, :job, :captured, :refunded)"),
            {"owner": owner_id, "job": job_id, "captured": captured, "refunded": refunded})


def _posted(session: Session, statement, params: dict) -> bool:
    """Run a posting function: True if it wrote a transaction; InsufficientFunds when a leg
    would go negative."""
    try:
        return session.execute(statement, params).scalar() is not None
    except DBAPIError as exc:
        raise_insufficient(exc)
        raise


def _sqlstate(exc: Exception) -> str | None:
    return getattr(getattr(exc, "orig", exc), "sqlstate", None)  # psycopg's, or wrapped


def is_insufficient(exc: Exception) -> bool:
    """True for the posting functions' SQLSTATE GB402, raised by psycopg or wrapped by
    SQLAlchemy."""
    return _sqlstate(exc) == "GB402"


def is_over_limit(exc: Exception) -> bool:
    """True for create_job's SQLSTATE GB429: the day's limit refused the job."""
    return _sqlstate(exc) == "GB429"


def raise_insufficient(exc: DBAPIError) -> None:
    """Turn the posting functions' SQLSTATE GB402 into InsufficientFunds; other errors pass."""
    if is_insufficient(exc):
        raise InsufficientFunds(int(exc.orig.diag.message_detail)) from None


def transfer(session: Session, kind: str, reference: str, source: int, target: int,
             amount: int, job_id: uuid.UUID | None = None, memo: str | None = None) -> bool:
    """Move `amount` from one ledger account to another as one transaction."""
    return post(session, kind, reference, [Leg(source, -amount), Leg(target, amount)],
                job_id=job_id, memo=memo)


def balance(session: Session, owner_id: int, kind: str = "available") -> int:
    """A customer's balance of one kind (0 before the first entry)."""
    return session.execute(text(
        "SELECT balance FROM ledger_accounts WHERE owner_id = :owner AND kind = :kind"),
        {"owner": owner_id, "kind": kind}).scalar() or 0


def check(session: Session) -> list[str]:
    """Every way the ledger is out of balance, as sentences; empty when it is sound."""
    problems = [
        f"ledger account {row.id} (owner {row.owner_id}, {row.kind}): balance {row.balance} "
        f"but its entries sum to {row.total}"
        for row in session.execute(text(
            "SELECT a.id, a.owner_id, a.kind, a.balance, COALESCE(SUM(e.amount), 0) AS total "
            "FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.ledger_account_id = a.id "
            "GROUP BY a.id HAVING a.balance <> COALESCE(SUM(e.amount), 0)"))
    ]
    problems += [
        f"transaction {row.transaction_id} does not balance: its legs sum to {row.total}"
        for row in session.execute(text(
            "SELECT transaction_id, SUM(amount) AS total FROM ledger_entries "
            "GROUP BY transaction_id HAVING SUM(amount) <> 0"))
    ]
    problems += [
        f"ledger account {row.id} (owner {row.owner_id}, {row.kind}) is negative: {row.balance}"
        for row in session.execute(text(
            "SELECT id, owner_id, kind, balance FROM ledger_accounts "
            "WHERE balance < 0 AND NOT allow_negative"))
    ]
    problems += [  # no foreign keys hold these (migration 0015): the posting proves them
        f"entry {row.id} refers to a missing "
        + ("transaction" if row.tx_missing else "ledger account")
        for row in session.execute(text(
            "SELECT e.id, t.id IS NULL AS tx_missing FROM ledger_entries e "
            "LEFT JOIN ledger_transactions t ON t.id = e.transaction_id "
            "LEFT JOIN ledger_accounts a ON a.id = e.ledger_account_id "
            "WHERE t.id IS NULL OR a.id IS NULL ORDER BY e.id"))
    ]
    return problems
