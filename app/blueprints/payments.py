"""Paying and limiting: card top-ups, the Stripe webhook, auto top-up, the daily limit."""
from __future__ import annotations

import json
import logging
from decimal import Decimal

import stripe
from flask import Blueprint, current_app, request

from billing import auto_topup, limits, stripe_payments, topups
from billing.money import MoneyError, parse_usd, usd

from ..auth import current_account
from ..errors import ApiError
from ..extensions import db

bp = Blueprint("payments", __name__)
log = logging.getLogger(__name__)


def money_body() -> dict:
    """The JSON object body with numbers parsed as Decimal, so no amount passes through float."""
    try:
        body = json.loads(request.get_data(), parse_float=Decimal)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body is not a JSON object.",
                       "Send a JSON object with Content-Type: application/json.")
    return body


def _money(body: dict, name: str, required: bool = True) -> int | None:
    """A USD amount from the body: a JSON number or a decimal string ("12.50")."""
    value = body.get(name)
    if value is None and not required:
        return None
    try:
        return parse_usd(value)
    except (MoneyError, TypeError):
        raise ApiError(400, "invalid_field", f"Field '{name}' must be an amount in USD.",
                       'Send a number or a decimal string, e.g. 25 or "12.50".',
                       field=name) from None


def _stripe():
    client = current_app.extensions.get("stripe")
    if client is None:
        raise ApiError(503, "payments_not_configured", "Card payments are not configured here.",
                       "The operator sets STRIPE_SECRET_KEY; or ask for a credit grant.")
    return client


def _topup_amount(body: dict) -> tuple[int, str | None]:
    if body.get("package") is not None:
        package = topups.PACKAGES.get(str(body["package"]))
        if package is None:
            raise ApiError(400, "unknown_package", f"Unknown package '{body['package']}'.",
                           "Pick one of packages, or send amount_usd.", field="package",
                           packages=sorted(topups.PACKAGES))
        return package.amount, package.key
    amount = _money(body, "amount_usd")
    try:
        topups.check_amount(amount)
    except topups.TopupError as exc:
        raise ApiError(400, "invalid_amount", f"{exc}.", "Send amount_usd from 10 to 10000.",
                       field="amount_usd") from None
    package = topups.package_for(amount)
    return amount, package.key if package else None


@bp.post("/account/topup")
def topup():
    account = current_account()
    amount, package = _topup_amount(money_body())
    base = (current_app.config["PUBLIC_BASE_URL"] or request.host_url).rstrip("/")
    try:
        checkout = stripe_payments.create_checkout(
            _stripe(), account.id, account.email, account.stripe_customer_id, amount, package,
            success_url=f"{base}/account/dashboard?topup=success",
            cancel_url=f"{base}/account/dashboard?topup=cancelled")
    except stripe.StripeError as exc:
        log.warning("checkout for account %s failed: %s", account.id, exc)
        raise ApiError(502, "payment_provider_error", "Stripe did not create the checkout.",
                       "Retry in a moment.") from None
    bonus = topups.bonus_for(package, amount)
    return {"checkout_url": checkout.url, "url": checkout.url, "session_id": checkout.session_id,
            "amount_usd": usd(amount), "package": package, "bonus_usd": usd(bonus),
            "credits_usd": usd(amount + bonus),
            "note": "Credits arrive when Stripe confirms the payment."}


@bp.post("/webhooks/stripe")
def stripe_webhook():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise ApiError(503, "payments_not_configured", "Stripe webhooks are not configured.",
                       "The operator sets STRIPE_WEBHOOK_SECRET.")
    try:
        event = stripe_payments.verify_event(request.get_data(),
                                             request.headers.get("Stripe-Signature"), secret)
    except stripe_payments.WebhookRejected as exc:
        raise ApiError(400, "invalid_signature", f"The webhook did not verify ({exc}).",
                       "Sign with the endpoint's whsec_ secret; timestamps older than 300 s "
                       "are refused.") from None
    method = None
    if event["type"] in stripe_payments.CREDIT_EVENTS and current_app.extensions.get("stripe"):
        method = stripe_payments.saved_payment_method(
            current_app.extensions["stripe"], event["data"]["object"].get("payment_intent"))
    outcome = stripe_payments.apply_event(db.session, event, method)
    return {"received": True, "event_id": event["id"], "outcome": outcome}


@bp.post("/account/auto-topup")
def configure_auto_topup():
    account = current_account()
    body = money_body()
    enabled = body.get("enabled", True) is not False
    threshold = _money(body, "threshold", required=enabled) if enabled else None
    amount = _money(body, "amount", required=enabled) if enabled else None
    try:
        auto_topup.configure(db.session, account.id, threshold, amount)
    except (ValueError, topups.TopupError) as exc:
        raise ApiError(400, "invalid_field", f"{exc}.",
                       "threshold > 0; amount $10 to $10,000 in whole cents.") from None
    db.session.commit()
    return {"enabled": enabled, "threshold": usd(threshold) if enabled else None,
            "amount": usd(amount) if enabled else None,
            "card_saved": account.stripe_payment_method_id is not None,
            "note": "Charged off-session to the card of your last card top-up."
            if account.stripe_payment_method_id else
            "Top up once by card (POST /account/topup) to save a card for auto top-up."}


@bp.post("/account/spending-limit")
def spending_limit():
    account = current_account()
    body = money_body()
    name = next((n for n in ("daily_limit_usd", "limit_usd", "daily_limit") if n in body),
                "daily_limit_usd")
    limit = _money(body, name)
    try:
        limits.set_daily_limit(db.session, account.id, limit)
    except ValueError as exc:
        raise ApiError(400, "invalid_field", f"{exc}.", "Send daily_limit_usd from 1 to 10000.",
                       field=name) from None
    db.session.commit()
    return {"daily_limit": usd(limit), "currency": "USD", "period": "UTC day"}
