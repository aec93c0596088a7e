"""Account endpoints: register, balance, job history, key rotation, recovery."""
from __future__ import annotations

import base64
import uuid
from datetime import datetime

from flask import Blueprint, request
from sqlalchemy import select, text, tuple_
from sqlalchemy.exc import IntegrityError

from billing import accounts, discounts, ledger
from billing.money import usd

from .. import schemas
from ..auth import bearer_token, current_account, hash_key, issue_key
from ..errors import ApiError
from ..extensions import db
from ..models import Account, Job, SupportRequest
from .jobs import json_body

bp = Blueprint("account", __name__, url_prefix="/account")
MAX_PAGE = 100


@bp.post("/register")
def register():
    data = schemas.load(schemas.RegisterRequest(), json_body())
    email = data["email"].strip().lower()
    account = Account(email=email)
    db.session.add(account)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "email_taken", "An account with this email already exists.",
                       "Use its API key, or POST /account/recover.") from None
    key = issue_key(account.id)
    db.session.commit()
    return {"api_key": key, "account_id": account.id, "email": email,
            "topup_url": "/account/topup",
            "note": "Store this key now: it is shown only once."}, 201


@bp.get("/balance")
def balance():
    account = current_account()
    return {
        "balance": usd(ledger.balance(db.session, account.id)),
        "held": usd(ledger.balance(db.session, account.id, "held")),
        "daily_spend": usd(accounts.daily_spend(db.session, account.id)),
        "daily_limit": usd(account.daily_limit),
        "currency": "USD",
        "volume_discount": volume_discount(discounts.lifetime_topups(db.session, account.id)),
        "auto_topup": {"enabled": account.auto_topup_threshold is not None,
                       "threshold": _usd_or_none(account.auto_topup_threshold),
                       "amount": _usd_or_none(account.auto_topup_amount),
                       "card_saved": account.stripe_payment_method_id is not None},
    }


def _usd_or_none(micros: int | None):
    return None if micros is None else usd(micros)


def volume_discount(lifetime: int) -> dict:
    """The tier reached by `lifetime` top-ups and the next one (GPU-Bridge's field names)."""
    tier, upcoming = discounts.tier_for(lifetime), discounts.next_tier(lifetime)
    return {"tier": tier.name, "discount_percent": tier.percent,
            "lifetime_topups_usd": usd(lifetime),
            "next_tier": None if upcoming is None else {
                "name": upcoming.name, "threshold": usd(upcoming.threshold),
                "discountPercent": upcoming.percent,
                "remaining_usd": usd(upcoming.threshold - lifetime)}}


@bp.post("/regenerate-key")
def regenerate_key():
    """Revoke the account's keys (the one presented among them) and issue a new one."""
    account = current_account()
    revoked = db.session.execute(text(
        "UPDATE api_keys SET revoked_at = now() WHERE account_id = :acct "
        "AND revoked_at IS NULL RETURNING key_hash"), {"acct": account.id}).scalars().all()
    if hash_key(bearer_token()) not in revoked:  # a concurrent rotation revoked it first
        db.session.rollback()
        raise ApiError(401, "invalid_api_key", "The API key is not valid.",
                       "Use the newest key.")
    key = issue_key(account.id)
    db.session.commit()
    return {"api_key": key, "account_id": account.id,
            "note": "The previous key no longer works. Store this one now: it is shown once."}


@bp.post("/recover")
def recover():
    """Record a recovery request for support; the answer never tells whether the email exists."""
    data = schemas.load(schemas.RegisterRequest(), json_body())
    email = data["email"].strip().lower()
    # The same two statements run whether or not the account exists, so timing says nothing.
    account_id = db.session.execute(select(Account.id).where(Account.email == email)).scalar()
    db.session.add(SupportRequest(kind="recover", email=email, account_id=account_id,
                                  message=str(data.get("message") or "")[:2000] or None))
    db.session.commit()
    return {"status": "received",
            "message": "If an account uses this email, support will contact it to verify "
                       "ownership and issue a new key."}, 202


def _cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str):
    try:
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(job_id)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "The cursor is not valid.",
                       "Pass the next_cursor value of the previous page.") from None


def _limit() -> int:
    raw = request.args.get("limit", "20")
    if not raw.isdecimal() or not 1 <= int(raw) <= MAX_PAGE:  # isdigit() passes "²"
        raise ApiError(400, "invalid_limit", f"limit must be 1 to {MAX_PAGE}.",
                       "Pass a smaller limit and page with cursor.", field="limit")
    return int(raw)


@bp.get("/jobs")
def jobs():
    account = current_account()
    limit = _limit()
    query = select(Job).where(Job.account_id == account.id)
    if request.args.get("cursor"):
        query = query.where(tuple_(Job.created_at, Job.id) < _after(request.args["cursor"]))
    rows = db.session.execute(query.order_by(Job.created_at.desc(), Job.id.desc())
                              .limit(limit + 1)).scalars().all()
    page = rows[:limit]
    return {
        "jobs": [_job_summary(job) for job in page],
        "next_cursor": _cursor(page[-1]) if len(rows) > limit else None,
    }


def _job_summary(job: Job) -> dict:
    settled = job.settled_at is not None
    return {"job_id": str(job.id), "service": job.service, "model": job.model,
            "status": job.status, "created_at": job.created_at.isoformat(),
            "estimated_cost_usd": usd(job.estimated_cost),
            "cost_usd": usd(job.actual_cost) if settled else None,
            "refunded": bool(job.refunded_amount) if settled else False,
            "refund_amount_usd": usd(job.refunded_amount) if settled else None,
            "discount_percent": job.discount_percent,
            "discount_usd": usd(job.discount_amount) if settled else None}
