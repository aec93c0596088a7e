"""USDC top-ups for API-key accounts: ask for an exact amount, watch the chain, credit once.

The amount to send is the package price plus a few micro-dollars unique among pending
deposits, so the Transfer that arrives says which deposit it pays. The watcher credits a
deposit only when its transfer has the confirmations its size needs; the deposit moves
pending -> credited by a conditional UPDATE and its tx hash is claimed in x402_payments, so
running the watcher twice (or a proof presenting the same hash) credits nothing twice.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

from . import topups
from .chain import TRANSFER_TOPIC, Chain, UsdcTransfer, confirmations_needed, transfers_in

log = logging.getLogger(__name__)
MAX_MARKER = 9_999  # the unique part stays under one cent
MAX_LOG_BLOCKS = 5_000  # a node answers eth_getLogs over a bounded range


@dataclass(frozen=True)
class Deposit:
    id: int
    amount: int
    bonus: int
    expires_at: datetime


def open_deposit(session: Session, chain: Chain, account_id: int, package: topups.Package,
                 ttl_seconds: int) -> Deposit:
    """Record a pending deposit with an amount no other pending deposit has; commits.
    The packages and their bonuses are the card top-ups' (billing/topups.py)."""
    bonus = topups.bonus_for(package.key, package.amount)
    start_block = chain.w3.eth.block_number
    expires = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
    for _ in range(20):
        amount = package.amount + 1 + secrets.randbelow(MAX_MARKER)
        try:
            deposit_id = session.execute(text(
                "INSERT INTO crypto_deposits (account_id, package, amount, bonus, start_block, "
                "expires_at) VALUES (:acct, :pkg, :amount, :bonus, :block, :exp) RETURNING id"),
                {"acct": account_id, "pkg": package.key, "amount": amount,
                 "bonus": bonus, "block": start_block, "exp": expires}).scalar_one()
        except IntegrityError:  # that amount is pending for someone else: draw again
            session.rollback()
            continue
        session.commit()
        return Deposit(deposit_id, amount, bonus, expires)
    raise RuntimeError("no free deposit amount; too many pending deposits")


def watch(session: Session, chain: Chain) -> list[int]:
    """Credit every pending deposit whose transfer is confirmed; the ids credited now."""
    expire_stale(session)
    start = session.execute(text(
        "SELECT min(start_block) FROM crypto_deposits WHERE status = 'pending'")).scalar()
    if start is None:
        return []
    latest = chain.w3.eth.block_number
    credited = []
    for transfer in _incoming(chain, start, latest):
        if latest - transfer.block_number + 1 < confirmations_needed(transfer.value):
            continue
        if chain.is_sanctioned(transfer.sender):  # left pending: an operator decides
            log.warning("USDC top-up from sanctioned %s not credited", transfer.sender)
            continue
        deposit_id = credit(session, transfer)
        if deposit_id is not None:
            credited.append(deposit_id)
    return credited


def _incoming(chain: Chain, from_block: int, to_block: int) -> list[UsdcTransfer]:
    """USDC Transfer logs to payTo in the block range, read in node-sized chunks."""
    pay_to_topic = "0x" + "0" * 24 + chain.config.pay_to[2:].lower()
    found = []
    for first in range(from_block, to_block + 1, MAX_LOG_BLOCKS):
        last = min(first + MAX_LOG_BLOCKS - 1, to_block)
        found += transfers_in(chain.w3.eth.get_logs({
            "address": chain.config.usdc, "fromBlock": first, "toBlock": last,
            "topics": [TRANSFER_TOPIC, None, pay_to_topic]}))
    return found


def credit(session: Session, transfer: UsdcTransfer) -> int | None:
    """Credit the pending deposit this transfer pays, once; its id, or None."""
    row = session.execute(text(
        "UPDATE crypto_deposits SET status = 'credited', tx_hash = :tx, credited_at = now() "
        "WHERE id = (SELECT id FROM crypto_deposits WHERE status = 'pending' "
        "AND amount = :amount AND start_block <= :block) AND status = 'pending' "
        "RETURNING id, account_id, amount, bonus"),
        {"tx": transfer.tx_hash, "amount": transfer.value, "block": transfer.block_number}
    ).one_or_none()
    if row is None or not _claim(session, transfer, row.account_id):
        session.rollback()
        return None
    # A top-up like a card one: it counts toward the volume discount, its bonus comes from
    # `bonuses`, and the money from the system account of USDC received.
    topups.credit(session, row.account_id, "usdc_deposit", f"deposit:{row.id}", row.amount,
                  row.bonus, f"USDC {transfer.tx_hash} with bonus", funding="usdc_deposits")
    session.commit()
    return row.id


def _claim(session: Session, transfer: UsdcTransfer, account_id: int) -> bool:
    """Mark the tx hash used, so it can pay nothing else (not a /run proof either)."""
    return session.execute(text(
        "INSERT INTO x402_payments (tx_hash, scheme, payer, amount, account_id) "
        "VALUES (:tx, 'deposit', :payer, :amount, :acct) ON CONFLICT DO NOTHING RETURNING id"),
        {"tx": transfer.tx_hash, "payer": Web3.to_checksum_address(transfer.sender),
         "amount": transfer.value, "acct": account_id}).scalar() is not None


def expire_stale(session: Session, grace_hours: int = 24) -> None:
    """Stop watching deposits long past their expiry, freeing their amounts."""
    session.execute(text(
        "UPDATE crypto_deposits SET status = 'expired' WHERE status = 'pending' "
        "AND expires_at < now() - make_interval(hours => :grace)"), {"grace": grace_hours})
    session.commit()
