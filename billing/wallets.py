"""Wallet accounts: an x402 payer's account, keyed by its address, credited through the ledger.

A payment is credited in full to the wallet's `available` balance (from the system account
`x402`), then the job's hold runs as for any account: what the job does not cost stays there
as credit, and a failed job's hold comes back to it.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import ledger
from .payments import Verified


def wallet_account(session: Session, address: str) -> int:
    """The id of the account keyed by the checksummed `address`, created on first use."""
    session.execute(text(
        "INSERT INTO accounts (wallet_address) VALUES (:addr) "
        "ON CONFLICT (wallet_address) DO NOTHING"), {"addr": address})
    return session.execute(text("SELECT id FROM accounts WHERE wallet_address = :addr"),
                           {"addr": address}).scalar_one()


def find_wallet_account(session: Session, address: str) -> int | None:
    return session.execute(text("SELECT id FROM accounts WHERE wallet_address = :addr"),
                           {"addr": address}).scalar()


def record_payment(session: Session, payment: Verified, account_id: int) -> bool:
    """Claim the payment's tx hash (and nonce) and credit it; False if it was used before.

    Runs in the caller's transaction. The unique keys make a second claim of the same hash
    wait for the first transaction and then find it taken, so one hash pays for one job.
    """
    claimed = session.execute(text(
        "INSERT INTO x402_payments (tx_hash, scheme, payer, auth_nonce, amount, account_id) "
        "VALUES (:tx, :scheme, :payer, :nonce, :amount, :acct) "
        "ON CONFLICT DO NOTHING RETURNING id"),
        {"tx": payment.tx_hash, "scheme": payment.scheme, "payer": payment.payer,
         "nonce": payment.auth_nonce, "amount": payment.amount, "acct": account_id}).scalar()
    if claimed is None:
        return False
    source = ledger.ledger_account(session, None, "x402")
    target = ledger.ledger_account(session, account_id, "available")
    return ledger.transfer(session, "x402_payment", payment.tx_hash, source, target,
                           payment.amount, memo=f"USDC from {payment.payer}")


def nonce_used(session: Session, payer: str, nonce: str) -> bool:
    """True when an EIP-3009 nonce of `payer` already paid for a job here."""
    return session.execute(text(
        "SELECT 1 FROM x402_payments WHERE payer = :payer AND auth_nonce = :nonce"),
        {"payer": payer, "nonce": nonce}).first() is not None
