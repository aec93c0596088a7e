"""Database tables. Amounts are BIGINT micro-USD; the ledger's rules are also CHECKs in SQL.

Import them from here: `from app.models import Job`.
"""
from .core import (DEFAULT_DAILY_LIMIT, FINAL_STATUSES, JOB_STATUSES, Account, ApiKey, Job,
                   JobAttempt, LedgerAccount, LedgerEntry, LedgerTransaction, StoredFile)
from .payments import (AutoTopup, CryptoDeposit, DailySpend, IdempotencyKey, StripeEvent,
                       SupportRequest, Topup, X402Payment)
from .webhooks import WebhookAttempt, WebhookDelivery, WebhookSecret

__all__ = ["DEFAULT_DAILY_LIMIT", "FINAL_STATUSES", "JOB_STATUSES", "Account", "ApiKey", "Job",
           "JobAttempt", "LedgerAccount", "LedgerEntry", "LedgerTransaction", "StoredFile",
           "AutoTopup", "CryptoDeposit", "DailySpend", "IdempotencyKey", "StripeEvent",
           "SupportRequest", "Topup", "X402Payment", "WebhookAttempt", "WebhookDelivery",
           "WebhookSecret"]
