"""Card payments through Stripe: Checkout for top-ups, the signed webhook that credits them,
and off-session charges of the saved card for auto top-ups.

The Stripe client is built from the app config (STRIPE_SECRET_KEY, STRIPE_API_BASE) and passed
in; nothing here reads the environment or keeps a global client.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import stripe
from sqlalchemy import text
from sqlalchemy.orm import Session

from . import topups
from .money import format_usd

log = logging.getLogger(__name__)
CREDIT_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
SIGNATURE_TOLERANCE_SECONDS = 300


class WebhookRejected(ValueError):
    """Raised when a webhook's signature, timestamp or body does not verify."""


def make_client(secret_key: str, api_base: str) -> stripe.StripeClient:
    """A Stripe client talking to `api_base` (Stripe's own, or a local double in tests)."""
    return stripe.StripeClient(secret_key, base_addresses={"api": api_base},
                               max_network_retries=2)


@dataclass(frozen=True)
class Checkout:
    session_id: str
    url: str


def create_checkout(client: stripe.StripeClient, account_id: int, email: str | None,
                    customer_id: str | None, amount: int, package: str | None,
                    success_url: str, cancel_url: str) -> Checkout:
    """A Checkout Session charging `amount`; the card is saved for later off-session use."""
    bonus = topups.bonus_for(package, amount)
    name = f"GPU-Bridge credits ${format_usd(amount)}"
    params = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "usd", "unit_amount": topups.micros_to_cents(amount),
            "product_data": {"name": name + (f" + ${format_usd(bonus)} bonus" if bonus else "")},
        }}],
        "client_reference_id": str(account_id),
        "metadata": {"account_id": str(account_id), "package": package or ""},
        "payment_intent_data": {"setup_future_usage": "off_session"},
        "success_url": success_url, "cancel_url": cancel_url,
    }
    if customer_id:
        params["customer"] = customer_id
    else:
        params["customer_creation"] = "always"
        if email:
            params["customer_email"] = email
    session = client.v1.checkout.sessions.create(params)
    return Checkout(session_id=session.id, url=session.url)


def verify_event(payload: bytes, signature: str | None, secret: str) -> dict:
    """The event as a plain dict once its Stripe-Signature verifies (300 s tolerance)."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret,
                                               tolerance=SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"signature: {exc.user_message or exc}") from None
    except ValueError as exc:  # the body is not JSON
        raise WebhookRejected(f"body: {exc}") from None
    return event.to_dict()


def saved_payment_method(client: stripe.StripeClient, payment_intent_id: str | None
                         ) -> str | None:
    """The card a Checkout payment used, to charge off-session later; None if unknown."""
    if not payment_intent_id:
        return None
    try:
        intent = client.v1.payment_intents.retrieve(payment_intent_id)
    except stripe.StripeError:
        log.warning("could not read payment intent %s", payment_intent_id, exc_info=True)
        return None
    method = intent.payment_method
    return method if isinstance(method, str) else getattr(method, "id", None)


def apply_event(session: Session, event: dict, payment_method: str | None = None) -> str:
    """Apply a verified event once, committing; returns what happened ("duplicate", ...).

    The event id is a unique key inserted in the same transaction as the credit, so a
    concurrent redelivery waits on it and then finds it taken.
    """
    first = session.execute(text(
        "INSERT INTO stripe_events (id, type) VALUES (:id, :type) ON CONFLICT DO NOTHING "
        "RETURNING id"), {"id": event["id"], "type": event["type"]}).scalar()
    if first is None:
        session.rollback()
        return "duplicate"
    outcome = "ignored"
    if event["type"] in CREDIT_EVENTS:
        outcome = _credit_checkout(session, event["data"]["object"], payment_method)
    session.commit()
    return outcome


def _credit_checkout(session: Session, checkout: dict, payment_method: str | None) -> str:
    if checkout.get("payment_status") != "paid" or checkout.get("currency") != "usd":
        return "not_paid"
    account_id = _account_of(session, checkout)
    if account_id is None:  # a checkout we did not create (another app on the same Stripe)
        return "unknown_account"
    # The account row first, then the ledger rows (a submit never waits on the account row).
    session.execute(text(
        "UPDATE accounts SET stripe_customer_id = COALESCE(:customer, stripe_customer_id), "
        "stripe_payment_method_id = COALESCE(:method, stripe_payment_method_id) WHERE id = :id"),
        {"customer": checkout.get("customer"), "method": payment_method, "id": account_id})
    paid = topups.cents_to_micros(int(checkout["amount_total"]))
    package = (checkout.get("metadata") or {}).get("package") or None
    credited = topups.credit(session, account_id, "stripe_checkout", f"stripe:{checkout['id']}",
                             paid, topups.bonus_for(package, paid),
                             memo=f"card top-up, checkout {checkout['id']}")
    return "credited" if credited else "already_credited"


def _account_of(session: Session, checkout: dict) -> int | None:
    raw = checkout.get("client_reference_id") or (checkout.get("metadata") or {}).get("account_id")
    if not str(raw or "").isdigit():
        return None
    return session.execute(text("SELECT id FROM accounts WHERE id = :id"),
                           {"id": int(raw)}).scalar()


def charge_off_session(client: stripe.StripeClient, customer_id: str, payment_method: str,
                       amount: int, idempotency_key: str):
    """Charge the saved card now, customer absent. Stripe's own idempotency key makes a
    repeated call (a redelivered task) return the same PaymentIntent, not a second charge."""
    return client.v1.payment_intents.create({
        "amount": topups.micros_to_cents(amount), "currency": "usd",
        "customer": customer_id, "payment_method": payment_method,
        "confirm": True, "off_session": True,
        "description": f"GPU-Bridge auto top-up ${format_usd(amount)}",
    }, {"idempotency_key": idempotency_key})
