"""Money coming in and its bookkeeping: top-ups, Stripe events, idempotency keys, auto
top-ups, support requests, daily spend, and payments made on chain."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .core import now_column


class Topup(db.Model):
    """Money paid in (card, later crypto): `reference` is unique, so it is credited once.
    `paid_amount` is what the customer paid; lifetime top-ups sum it (bonuses excluded)."""

    __tablename__ = "topups"
    __table_args__ = (CheckConstraint("paid_amount > 0 AND bonus_amount >= 0",
                                      name="amounts_positive"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))  # stripe_checkout | stripe_auto | usdc_deposit
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    paid_amount: Mapped[int] = mapped_column(BigInteger)
    bonus_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = now_column()


class StripeEvent(db.Model):
    """A Stripe webhook event applied; its id is the key that makes a redelivery a no-op."""

    __tablename__ = "stripe_events"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = now_column()


class IdempotencyKey(db.Model):
    """The first 202 of a POST /run sent with an Idempotency-Key, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    response: Mapped[str] = mapped_column(Text)  # the exact JSON text of the first 202
    created_at: Mapped[datetime] = now_column()


class AutoTopup(db.Model):
    """One off-session charge of the saved card; at most one open (pending|failed) per account."""

    __tablename__ = "auto_topups"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'dismissed')",
                        name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("uq_auto_topups_open", "account_id", unique=True,
              postgresql_where="status IN ('pending', 'failed')"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    amount: Mapped[int] = mapped_column(BigInteger)
    payment_intent_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class SupportRequest(db.Model):
    """A request for a human (account recovery); kept whether or not the email is known."""

    __tablename__ = "support_requests"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    message: Mapped[str | None] = mapped_column(Text)


class DailySpend(db.Model):
    """An account's spend of one UTC day: open holds plus settled charges of that day's jobs.

    Kept as a counter so the daily-limit check at submit is one conditional upsert, however
    many jobs the day holds."""

    __tablename__ = "daily_spend"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    spent: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # micro_usd


class X402Payment(db.Model):
    """A USDC transfer we took: a payment at POST /run or a top-up deposit. Its tx hash is
    unique, so one transaction pays once, whichever way it is presented."""

    __tablename__ = "x402_payments"
    __table_args__ = (
        UniqueConstraint("payer", "auth_nonce", name="uq_x402_payments_payer_nonce"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)  # lower-case 0x-hex
    scheme: Mapped[str] = mapped_column(String(16))  # proof | exact | deposit
    payer: Mapped[str] = mapped_column(String(42))
    auth_nonce: Mapped[str | None] = mapped_column(String(66))  # EIP-3009 nonce (exact only)
    amount: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = now_column()


class CryptoDeposit(db.Model):
    """A USDC top-up an account asked for: the exact amount identifies it while pending."""

    __tablename__ = "crypto_deposits"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'credited', 'expired')", name="status_known"),
        CheckConstraint("amount > 0 AND bonus >= 0", name="amounts_valid"),
        Index("uq_crypto_deposits_pending_amount", "amount", unique=True,
              postgresql_where="status = 'pending'"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    package: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)  # USDC base units to send = micro-USD
    bonus: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    start_block: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66))  # claimed in x402_payments
    created_at: Mapped[datetime] = now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    credited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
