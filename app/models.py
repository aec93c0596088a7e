"""Database tables. Amounts are BIGINT micro-USD; the ledger's rules are also CHECKs in SQL."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index,
                        Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

DEFAULT_DAILY_LIMIT = 50_000_000  # $50 per UTC day, as the reference sets it
JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
FINAL_STATUSES = ("completed", "failed", "cancelled")


def _now_column(**kw):
    return mapped_column(DateTime(timezone=True), server_default=func.now(), **kw)


class Account(db.Model):
    """A customer: people register with an email; x402 payers get one keyed by their wallet."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    wallet_address: Mapped[str | None] = mapped_column(String(42), unique=True)  # checksummed
    daily_limit: Mapped[int] = mapped_column(BigInteger, default=DEFAULT_DAILY_LIMIT,
                                             server_default=str(DEFAULT_DAILY_LIMIT))
    created_at: Mapped[datetime] = _now_column()
    # Card top-ups: the Stripe customer and the card saved for off-session auto top-ups.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    auto_topup_threshold: Mapped[int | None] = mapped_column(BigInteger)
    auto_topup_amount: Mapped[int | None] = mapped_column(BigInteger)
    # Budget alerts (optional): where to post them and the balance that triggers one.
    alert_webhook_url: Mapped[str | None] = mapped_column(Text)
    alert_balance_below: Mapped[int | None] = mapped_column(BigInteger)


class ApiKey(db.Model):
    """An API key, stored only as its SHA-256; the key itself is shown once at creation."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerAccount(db.Model):
    """One balance of the double-entry ledger: a customer's `available` or `held` money,
    or `spent`, or a system account (`grants`, `payments`, `bonuses`). `balance` always equals the sum of its entries."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("owner_id", "kind", name="uq_ledger_accounts_owner_kind",
                         postgresql_nulls_not_distinct=True),
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class LedgerTransaction(db.Model):
    """A balanced set of entries. (kind, reference) is unique: each effect happens once."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (UniqueConstraint("kind", "reference", name="uq_ledger_tx_kind_reference"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()


class LedgerEntry(db.Model):
    """One leg of a transaction; append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_not_zero"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now_column()


class Job(db.Model):
    """One run of a service. Status moves only by conditional UPDATEs (see workers/jobs.py)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES}", name="status_known"),
        CheckConstraint("hold_amount >= 0 AND estimated_cost >= 0", name="amounts_not_negative"),
        CheckConstraint("actual_cost IS NULL OR actual_cost <= hold_amount",
                        name="cost_within_hold"),
        CheckConstraint("discount_percent BETWEEN 0 AND 100", name="discount_known"),
        Index("ix_jobs_account_created", "account_id", "created_at"),
        Index("ix_jobs_unfinished", "status", "updated_at",
              postgresql_where="status IN ('queued', 'running')"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    service: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    priority: Mapped[str | None] = mapped_column(String(8))
    input: Mapped[dict] = mapped_column(JSONB)
    output: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[dict | None] = mapped_column(JSONB)
    usage: Mapped[dict | None] = mapped_column(JSONB)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    estimated_cost: Mapped[int] = mapped_column(BigInteger)
    hold_amount: Mapped[int] = mapped_column(BigInteger)
    actual_cost: Mapped[int | None] = mapped_column(BigInteger)
    refunded_amount: Mapped[int | None] = mapped_column(BigInteger)
    # The account's volume discount, fixed at submit; discount_amount is set at settlement.
    discount_percent: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    discount_amount: Mapped[int | None] = mapped_column(BigInteger)
    deliveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Lifecycle (app/lifecycle.py): extra webhook events, the Cancel-After deadline, a cancel
    # asked for while running, and when retention removed the output.
    webhook_events: Mapped[list | None] = mapped_column(JSONB)
    cancel_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    output_expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobAttempt(db.Model):
    """One call to one backend for a job, whatever its outcome."""

    __tablename__ = "job_attempts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    delivery: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # which claim
    backend: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | retryable | permanent | unavailable | skipped | cancelled
    error: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(64))  # e.g. ProviderTimeout
    seconds: Mapped[float] = mapped_column(db.Float, default=0.0)  # duration, not money
    created_at: Mapped[datetime] = _now_column()


class StoredFile(db.Model):
    """A file a job produced, served at /files/<token>; the token is its only key."""

    __tablename__ = "stored_files"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now_column()


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
    created_at: Mapped[datetime] = _now_column()


class StripeEvent(db.Model):
    """A Stripe webhook event applied; its id is the key that makes a redelivery a no-op."""

    __tablename__ = "stripe_events"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = _now_column()


class IdempotencyKey(db.Model):
    """The first 202 of a POST /run sent with an Idempotency-Key, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    response: Mapped[str] = mapped_column(Text)  # the exact JSON text of the first 202
    created_at: Mapped[datetime] = _now_column()


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
class WebhookSecret(db.Model):
    """An account's whsec_ signing secret; a rotated one keeps signing until `retired_at`."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (Index("uq_webhook_secrets_current", "account_id", unique=True,
                            postgresql_where="retired_at IS NULL"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now_column()
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(db.Model):
    """One event for one URL; `event_key` is unique, so each event is sent once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed', 'gone')",
                        name="status_known"),
        Index("ix_webhook_deliveries_account_id", "account_id", "id"),
        Index("ix_webhook_deliveries_due", "next_attempt_at",
              postgresql_where="status = 'pending'"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"))
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # the webhook-id header
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)  # the exact bytes signed and sent
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = _now_column()
    created_at: Mapped[datetime] = _now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SupportRequest(db.Model):
    """A request for a human (account recovery); kept whether or not the email is known."""

    __tablename__ = "support_requests"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    message: Mapped[str | None] = mapped_column(Text)
class WebhookAttempt(db.Model):
    """One POST of a delivery: the status code (None when no answer), latency and error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number",
                                       name="uq_webhook_attempts_delivery_number"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"))
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
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
    created_at: Mapped[datetime] = _now_column()


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
    created_at: Mapped[datetime] = _now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    credited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DailySpend(db.Model):
    """An account's spend of one UTC day: open holds plus settled charges of that day's jobs.

    Kept as a counter so the daily-limit check at submit is one conditional upsert, however
    many jobs the day holds."""

    __tablename__ = "daily_spend"
    __table_args__ = (CheckConstraint("spent >= 0", name="spent_not_negative"),)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    spent: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
