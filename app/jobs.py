"""Submitting a job: validate, price, hold and write it in one transaction, send after commit."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import current_app, url_for
from sqlalchemy import insert

from billing import discounts, ledger, limits
from billing.money import format_usd, usd
from billing.pricing import estimate
from providers.base import PermanentProviderError, RetryableProviderError
from providers.media import UrlPolicy, check_url
from providers.router import candidates

from . import idempotency, schemas
from .catalog import Catalog, Service
from .errors import ApiError
from .extensions import db
from .logs import job_id_var
from .models import Account, Job

log = logging.getLogger(__name__)
PRIORITIES = ("fast", "cheap")
RUN_REQUEST = schemas.RunRequest()  # a marshmallow schema is reusable across requests


@dataclass(frozen=True)
class NewJob:
    """A job as the submit transaction wrote it: what the 202 and the broker message need."""

    id: uuid.UUID
    service: str
    family: str
    model: str | None
    estimated_cost: int
    discount_percent: int
    status: str = "queued"


@dataclass(frozen=True)
class Submitted:
    """The 202's JSON text; `replayed` when it is an Idempotency-Key replay of the first."""

    response: str
    job: NewJob | None = None
    replayed: bool = False


def _service(catalog: Catalog, key: str) -> Service:
    service = catalog.get(key)
    if service is None:
        raise ApiError(400, "unknown_service", f"Unknown service '{key}'.",
                       "Pick one of available_services; GET /catalog describes each.",
                       available_services=sorted(catalog.services))
    return service


def _check_urls(service: Service, data: dict, webhook_url: str | None) -> None:
    """Refuse at submit any user URL that points at a private address."""
    policy = UrlPolicy(allow_private=current_app.config["ALLOW_PRIVATE_URLS"])
    for name, rules in service.input.items():
        if rules["type"] == "url" and data.get(name):
            _guard(data[name], policy, "invalid_url", f"input.{name}")
    if webhook_url:
        _guard(webhook_url, policy, "invalid_webhook_url", "webhook_url")


def _guard(url: str, policy: UrlPolicy, code: str, field: str) -> None:
    if url.startswith("data:") and field != "webhook_url":
        return
    try:
        check_url(url, policy)
    except PermanentProviderError as exc:
        raise ApiError(400, code, f"Field '{field}': {exc.message}",
                       "Use a public https URL.", field=field) from None
    except RetryableProviderError as exc:  # DNS did not answer: not the client's fault
        raise ApiError(503, "url_check_failed", f"Field '{field}': {exc.message}",
                       "Retry in a moment.", field=field) from None


def _model(service: Service, data: dict) -> str | None:
    return data.get("model") or service.default_model


def _insufficient(account_id: int, needed: int) -> ApiError:
    have = ledger.balance(db.session, account_id)
    return ApiError(402, "insufficient_credits",
                    f"This job needs ${format_usd(needed)} of credit; the balance is "
                    f"${format_usd(have)}.", "Top up at POST /account/topup.",
                    required_usd=usd(needed), balance_usd=usd(have))


def _over_limit(exc: limits.DailyLimitExceeded) -> ApiError:
    return ApiError(429, "daily_limit_exceeded",
                    f"This job (${format_usd(exc.needed)}) would take today's spend past the "
                    f"daily limit of ${format_usd(exc.limit)} (spent ${format_usd(exc.spent)}).",
                    "Raise it with POST /account/spending-limit, or wait for the next UTC day.",
                    daily_limit_usd=usd(exc.limit), daily_spend_usd=usd(exc.spent),
                    required_usd=usd(exc.needed))


def accepted_body(job: NewJob) -> str:
    """The 202 JSON of POST /run (kept verbatim for Idempotency-Key replays)."""
    return current_app.json.dumps({
        "job_id": str(job.id), "status": job.status, "service": job.service,
        "model": job.model, "status_url": url_for("jobs.status", job_id=job.id, _external=True),
        "estimated_cost_usd": usd(job.estimated_cost), "discount_percent": job.discount_percent})


def submit_job(catalog: Catalog, backends: dict, account_id: int, body,
               priority: str | None = None, idempotency_key: str | None = None,
               lifecycle: dict | None = None, send: bool = True) -> Submitted:
    """In one transaction: claim the idempotency key (or replay), validate and price the
    request, check the daily limit, hold the discounted estimate and write the job; send it
    after commit. `lifecycle` holds the job's deadline fields from request headers; with
    send=False the caller runs the job itself (the synchronous OpenAI-compatible API)."""
    try:
        claimed = None
        if idempotency_key is not None:
            claimed = idempotency.claim(db.session, account_id, idempotency_key, body, priority)
            if isinstance(claimed, idempotency.Replay):
                db.session.rollback()
                return Submitted(response=claimed.response, replayed=True)
        job = _write_job(catalog, backends, account_id, body, priority, lifecycle)
        response = accepted_body(job)
        if claimed is not None:
            idempotency.remember(db.session, claimed, job.id, response)
    except BaseException:
        db.session.rollback()  # releases the key and every row it locked; nothing was written
        raise
    db.session.commit()
    if send:
        send_job(job)
    return Submitted(response=response, job=job)


@dataclass(frozen=True)
class Prepared:
    """A validated, priced request, not yet paid for or written."""

    service: Service
    data: dict
    model: str | None
    cost: int
    webhook_url: str | None
    priority: str | None
    webhook_events: list | None = None


def prepare_job(catalog: Catalog, backends: dict, body, priority: str | None = None) -> Prepared:
    """Validate and price the request; raises ApiError (4xx) and changes nothing."""
    request = schemas.load(RUN_REQUEST, body)
    service = _service(catalog, request["service"])
    data = schemas.load(schemas.input_schema(service), request["input"], prefix="input.")
    _check_urls(service, data, request.get("webhook_url"))
    model = _model(service, data)
    if not candidates(service, backends, model):
        raise ApiError(503, "no_backend", f"No backend can run '{service.key}' here right now.",
                       "GET /catalog shows which services are available; retry later.")
    return Prepared(service, data, model, estimate(service, data, model),
                    request.get("webhook_url"), priority if priority in PRIORITIES else None,
                    request.get("webhook_events"))


def _write_job(catalog: Catalog, backends: dict, account_id: int, body,
               priority: str | None, lifecycle: dict | None = None) -> NewJob:
    """Validate, price with the account's discount, write the job and reserve its cost
    (daily limit and hold) in the open transaction. Whatever the caller already wrote there
    (an x402 payment's claim and credit) commits or rolls back with it.

    The hot path of POST /run: two statements, a Core insert and one call of the SQL
    function behind limits.reserve_job."""
    prepared = prepare_job(catalog, backends, body, priority)
    # Authentication loaded the account in this session: get() reads it from there.
    percent = discounts.tier_for(db.session.get(Account, account_id).lifetime_topups).percent
    job = NewJob(uuid.uuid4(), prepared.service.key, prepared.service.family, prepared.model,
                 discounts.apply(prepared.cost, percent), percent)
    job_id_var.set(str(job.id))  # every later log line of this request names the job
    db.session.execute(insert(Job.__table__), dict(
        id=job.id, account_id=account_id, service=job.service, family=job.family,
        model=job.model, status=job.status, input=prepared.data,
        webhook_url=prepared.webhook_url, priority=prepared.priority,
        estimated_cost=job.estimated_cost, hold_amount=job.estimated_cost,
        discount_percent=percent, webhook_events=prepared.webhook_events,
        **(lifecycle or {})))
    try:
        limits.reserve_job(db.session, account_id, job.id, job.estimated_cost)
    except limits.DailyLimitExceeded as exc:
        raise _over_limit(exc) from None
    except ledger.InsufficientFunds:
        db.session.rollback()
        raise _insufficient(account_id, job.estimated_cost) from None
    return job


def send_job(job: NewJob | Job) -> None:
    """Queue the job for its family's workers. A lost message is re-sent by the sweeper."""
    try:
        current_app.extensions["celery"].send_task(
            "workers.run_job", args=[str(job.id)], queue=job.family)
    except Exception:  # the broker is down: the row is committed, the sweeper will send it
        log.warning("could not queue job %s; the sweeper will retry", job.id, exc_info=True)
