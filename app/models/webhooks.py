"""Webhook secrets, deliveries and their attempts."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (BigInteger, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .core import now_column


class WebhookSecret(db.Model):
    """An account's whsec_ signing secret; a rotated one keeps signing until `retired_at`."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (Index("uq_webhook_secrets_current", "account_id", unique=True,
                            postgresql_where="retired_at IS NULL"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = now_column()
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(db.Model):
    """One event for one URL; `event_key` is unique, so each event is sent once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
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
    # The SQL domain webhook_delivery_status: pending, delivered, failed or gone (core.py).
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = now_column()
    created_at: Mapped[datetime] = now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
    created_at: Mapped[datetime] = now_column()
