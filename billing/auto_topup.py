"""Auto top-up: when a settlement leaves the balance under the account's threshold, charge
the saved card once.

"Once" is a row: `auto_topups` allows one open (pending or failed) charge per account (a
partial unique index), armed in the settlement's own statement (the SQL function
`arm_auto_topup`, migration 0010). A failed charge stays open until the customer configures
auto top-up again, so a declined card is not retried per job.
"""
from __future__ import annotations

import logging

import stripe
from sqlalchemy import text
from sqlalchemy.orm import Session

from . import topups
from .stripe_payments import charge_off_session

log = logging.getLogger(__name__)
MIN_AUTO_TOPUP = topups.MIN_TOPUP


def configure(session: Session, account_id: int, threshold: int | None, amount: int | None
              ) -> None:
    """Set (or with None, turn off) auto top-up, and re-arm after a failed charge."""
    if (threshold is None) != (amount is None):
        raise ValueError("threshold and amount go together")
    if amount is not None:
        topups.check_amount(amount)
        if threshold <= 0:
            raise ValueError("the threshold must be positive")
    session.execute(text(
        "UPDATE accounts SET auto_topup_threshold = :threshold, auto_topup_amount = :amount "
        "WHERE id = :id"), {"threshold": threshold, "amount": amount, "id": account_id})
    session.execute(text(
        "UPDATE auto_topups SET status = 'dismissed', finished_at = now() "
        "WHERE account_id = :id AND status = 'failed'"), {"id": account_id})


def run(session: Session, client: stripe.StripeClient, topup_id: int) -> str:
    """Charge a pending auto top-up and credit it; safe to run again (returns its status).

    Transient Stripe errors propagate so the task is retried with the same idempotency key.
    """
    row = session.execute(text(
        "SELECT t.status, t.account_id, t.amount, a.stripe_customer_id AS customer, "
        "a.stripe_payment_method_id AS method FROM auto_topups t "
        "JOIN accounts a ON a.id = t.account_id WHERE t.id = :id"), {"id": topup_id}).one()
    session.rollback()  # no transaction stays open across the call to Stripe
    if row.status != "pending":
        return row.status
    try:
        intent = charge_off_session(client, row.customer, row.method, row.amount,
                                    idempotency_key=f"gpubridge-auto-topup-{topup_id}")
    except (stripe.CardError, stripe.InvalidRequestError) as exc:  # retrying will not help
        return _finish(session, topup_id, "failed", error=exc.user_message or str(exc))
    if intent.status != "succeeded":
        return _finish(session, topup_id, "failed", error=f"payment {intent.status}",
                       intent_id=intent.id)
    paid = topups.cents_to_micros(int(getattr(intent, "amount_received", None) or intent.amount))
    topups.credit(session, row.account_id, "stripe_auto", f"stripe:{intent.id}", paid, 0,
                  memo=f"auto top-up, payment {intent.id}")
    return _finish(session, topup_id, "succeeded", intent_id=intent.id)


def _finish(session: Session, topup_id: int, status: str, error: str | None = None,
            intent_id: str | None = None) -> str:
    session.execute(text(
        "UPDATE auto_topups SET status = :status, error = :error, finished_at = now(), "
        "payment_intent_id = COALESCE(:intent, payment_intent_id) "
        "WHERE id = :id AND status = 'pending'"),
        {"status": status, "error": error, "intent": intent_id, "id": topup_id})
    session.commit()
    if status == "failed":
        log.warning("auto top-up %s failed: %s", topup_id, error)
    return status


def stale_pending(session: Session, older_than_seconds: int) -> list[int]:
    """Pending charges whose task may have been lost (for the sweeper to re-send)."""
    return list(session.execute(text(
        "SELECT id FROM auto_topups WHERE status = 'pending' "
        "AND created_at < now() - make_interval(secs => :after)"),
        {"after": older_than_seconds}).scalars())
