"""Webhook settings of an account: the signing secret, the delivery log, budget alerts."""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, current_app, request
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from billing.money import MoneyError, parse_usd, usd
from providers.base import ProviderError
from providers.urlguard import UrlPolicy, check_url

from .. import schemas, webhook_signing, webhooks
from ..auth import current_account
from ..errors import ApiError
from ..extensions import db
from ..models import WebhookAttempt, WebhookDelivery
from .account import _limit
from .jobs import json_body

bp = Blueprint("webhooks", __name__, url_prefix="/account")
MAX_ID = 2**63 - 1  # delivery ids are BIGINT: a larger one names no delivery


@bp.get("/webhook-secret")
def secret():
    account = current_account()
    return {"secret": webhook_signing.current_secret(db.session, account.id)}


@bp.post("/webhook-secret/rotate")
def rotate():
    account = current_account()
    grace = timedelta(hours=current_app.config["WEBHOOK_SECRET_GRACE_HOURS"])
    secret, until = webhook_signing.rotate(db.session, account.id, grace)
    return {"secret": secret, "previous_secret_valid_until": until.isoformat(),
            "note": "Deliveries carry a signature from each valid secret until then."}


def _delivery(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict:
    return {"id": delivery.id, "webhook_id": delivery.message_id,
            "event_type": delivery.event_type,
            "job_id": str(delivery.job_id) if delivery.job_id else None,
            "url": delivery.url, "status": delivery.status,
            "created_at": delivery.created_at.isoformat(),
            "next_attempt_at": delivery.next_attempt_at.isoformat()
            if delivery.status == "pending" else None,
            "attempts": [{"number": a.number, "status_code": a.status_code,
                          "latency_ms": a.latency_ms, "error": a.error,
                          "at": a.created_at.isoformat()} for a in attempts]}


@bp.get("/webhooks/deliveries")
def deliveries():
    account = current_account()
    query = select(WebhookDelivery).where(WebhookDelivery.account_id == account.id)
    if request.args.get("job_id"):
        query = query.where(WebhookDelivery.job_id == _uuid(request.args["job_id"]))
    before = request.args.get("before", "")
    if before.isdecimal() and int(before) <= MAX_ID:  # a larger one filters nothing out
        query = query.where(WebhookDelivery.id < int(before))
    rows = db.session.execute(query.order_by(WebhookDelivery.id.desc())
                              .limit(_limit())).scalars().all()
    attempts = db.session.execute(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id.in_([r.id for r in rows])).order_by(
        WebhookAttempt.number)).scalars().all()
    return {"deliveries": [_delivery(r, [a for a in attempts if a.delivery_id == r.id])
                           for r in rows]}


def _uuid(value: str):
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "invalid_field", "job_id is not a job id.",
                       "Use the job_id that POST /run returned.", field="job_id") from None


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
def replay(delivery_id: int):
    account = current_account()
    if delivery_id > MAX_ID or not webhooks.replay(db.session, account.id, delivery_id):
        raise ApiError(409, "not_replayable", "No finished delivery with this id can be sent "
                       "again.", "Pick a delivered or failed delivery from "
                       "GET /account/webhooks/deliveries; bodies past retention are gone.")
    webhooks.send(current_app.extensions["celery"], delivery_id)
    return {"id": delivery_id, "status": "pending"}, 202


class AlertsRequest(Schema):
    """PUT /account/alerts: where budget alerts go and the balance that triggers one."""

    webhook_url = fields.String(required=True, allow_none=True,
                                validate=validate.Length(max=2048))
    balance_below_usd = fields.String(allow_none=True, load_default=None)


@bp.put("/alerts")
def alerts():
    account = current_account()
    data = schemas.load(AlertsRequest(), json_body())
    if data["webhook_url"]:
        _check_alert_url(data["webhook_url"])
    threshold = _threshold(data["balance_below_usd"])
    account.alert_webhook_url = data["webhook_url"] or None
    account.alert_balance_below = threshold
    db.session.commit()
    return {"webhook_url": account.alert_webhook_url,
            "balance_below_usd": usd(threshold) if threshold is not None else None,
            "events": ["account.balance_low", "account.daily_limit_reached"]}


def _check_alert_url(url: str) -> None:
    try:
        check_url(url, UrlPolicy(allow_private=current_app.config["ALLOW_PRIVATE_URLS"]))
        if url.lower().startswith("data:"):
            raise ProviderError("a data: URI cannot receive webhooks")
    except ProviderError as exc:
        raise ApiError(400, "invalid_webhook_url", f"Field 'webhook_url': {exc.message}",
                       "Use a public https URL.", field="webhook_url") from None


def _threshold(raw) -> int | None:
    if raw is None:
        return None
    try:
        return parse_usd(str(raw))
    except MoneyError:
        raise ApiError(400, "invalid_field", "balance_below_usd must be a USD amount like "
                       "\"5.00\".", "Send it as a string.", field="balance_below_usd") from None
