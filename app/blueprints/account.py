"""Account endpoints: register, balance, job history."""
from __future__ import annotations

import base64
from datetime import datetime

from flask import Blueprint, request
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from billing import accounts, ledger
from billing.money import usd

from .. import schemas
from ..auth import current_account, issue_key
from ..errors import ApiError
from ..extensions import db
from ..models import Account, Job
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
    }


def _cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str):
    try:
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), job_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "The cursor is not valid.",
                       "Pass the next_cursor value of the previous page.") from None


def _limit() -> int:
    raw = request.args.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
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
            "refund_amount_usd": usd(job.refunded_amount) if settled else None}
