"""The core tables: accounts, keys, the ledger, jobs, attempts, files. Amounts are BIGINT
micro-USD; the ledger's rules are also CHECKs in SQL.

Some columns are SQL domains, not the plain types declared here (migration 0013): a domain's
CHECK is read once per connection and runs only where a statement assigns the column, while
PostgreSQL parses a table's CHECKs again for every write to the table. `job_status`: one of
JOB_STATUSES; `micro_usd`: never negative; `percent`: 0 to 100; `ledger_amount`: never 0."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index,
                        Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

DEFAULT_DAILY_LIMIT = 50_000_000  # $50 per UTC day, as the reference sets it
JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
FINAL_STATUSES = ("completed", "failed", "cancelled")


def now_column(**kw):
    return mapped_column(DateTime(timezone=True), server_default=func.now(), **kw)


class Account(db.Model):
    """A customer: people register with an email; x402 payers get one keyed by their wallet."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    wallet_address: Mapped[str | None] = mapped_column(String(42), unique=True)  # checksummed
    daily_limit: Mapped[int] = mapped_column(BigInteger, default=DEFAULT_DAILY_LIMIT,
                                             server_default=str(DEFAULT_DAILY_LIMIT))
    created_at: Mapped[datetime] = now_column()
    # Money paid in through top-ups (bonuses excluded), the volume discount's measure; a
    # trigger on `topups` keeps it (migration 0007), so pricing a job sums nothing.
    lifetime_topups: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
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
    created_at: Mapped[datetime] = now_column()
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
    created_at: Mapped[datetime] = now_column()


class LedgerEntry(db.Model):
    """One leg of a transaction; append-only (a trigger refuses UPDATE and DELETE).

    Its references have no foreign keys: its writers, `ledger_post`, `settle_money` (a
    settlement's) and `create_job` (a hold's), prove both in the same transaction, and
    `ledger.check` looks for entries that lack either (migrations 0015, 0019, 0020)."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, index=True)
    ledger_account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # ledger_amount
    created_at: Mapped[datetime] = now_column()


class Job(db.Model):
    """One run of a service. Status moves only by conditional UPDATEs (see workers/jobs.py)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("actual_cost IS NULL OR actual_cost <= hold_amount",
                        name="cost_within_hold"),
        Index("ix_jobs_account_created", "account_id", "created_at"),
        Index("ix_jobs_unfinished", "status", "updated_at",
              postgresql_where="status IN ('queued', 'running')"),
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    service: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="queued",  # job_status
                                        server_default="queued")
    priority: Mapped[str | None] = mapped_column(String(8))
    input: Mapped[dict] = mapped_column(JSONB)
    output: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[dict | None] = mapped_column(JSONB)
    usage: Mapped[dict | None] = mapped_column(JSONB)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    estimated_cost: Mapped[int] = mapped_column(BigInteger)  # micro_usd
    hold_amount: Mapped[int] = mapped_column(BigInteger)  # micro_usd
    actual_cost: Mapped[int | None] = mapped_column(BigInteger)
    refunded_amount: Mapped[int | None] = mapped_column(BigInteger)
    # The account's volume discount, fixed at submit; discount_amount is set at settlement.
    discount_percent: Mapped[int] = mapped_column(SmallInteger, default=0,  # percent
                                                  server_default="0")
    discount_amount: Mapped[int | None] = mapped_column(BigInteger)
    deliveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
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
    created_at: Mapped[datetime] = now_column()


class StoredFile(db.Model):
    """A file a job produced, served at /files/<token>; the token is its only key."""

    __tablename__ = "stored_files"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = now_column()
