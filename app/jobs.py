"""Submitting a job: validate, price, hold and write it in one transaction, send after commit."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import current_app

from billing import accounts, ledger
from billing.money import format_usd, usd
from billing.pricing import estimate
from providers.base import PermanentProviderError, RetryableProviderError
from providers.media import UrlPolicy, check_url
from providers.router import candidates

from . import schemas
from .catalog import Catalog, Service
from .errors import ApiError
from .extensions import db
from .logs import job_id_var
from .models import Job

log = logging.getLogger(__name__)
PRIORITIES = ("fast", "cheap")


@dataclass(frozen=True)
class Submitted:
    job: Job
    estimate: int


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


def submit_job(catalog: Catalog, backends: dict, account_id: int, body,
               priority: str | None = None, send: bool = True) -> Submitted:
    """Validate and price the request, then hold the estimate and write the job atomically.
    With send=False the caller runs the job itself (the synchronous OpenAI-compatible API)."""
    request = schemas.load(schemas.RunRequest(), body)
    service = _service(catalog, request["service"])
    data = schemas.load(schemas.input_schema(service), request["input"], prefix="input.")
    _check_urls(service, data, request.get("webhook_url"))
    model = _model(service, data)
    if not candidates(service, backends, model):
        raise ApiError(503, "no_backend", f"No backend can run '{service.key}' here right now.",
                       "GET /catalog shows which services are available; retry later.")
    cost = estimate(service, data, model)
    job = Job(id=uuid.uuid4(), account_id=account_id, service=service.key,
              family=service.family, model=model, status="queued", input=data,
              webhook_url=request.get("webhook_url"),
              priority=priority if priority in PRIORITIES else None,
              estimated_cost=cost, hold_amount=cost)
    db.session.add(job)
    job_id_var.set(str(job.id))  # every later log line of this request names the job
    try:
        db.session.flush()
        accounts.hold(db.session, account_id, job.id, cost)
    except ledger.InsufficientFunds:
        db.session.rollback()
        raise _insufficient(account_id, cost) from None
    db.session.commit()
    if send:
        send_job(job)
    return Submitted(job=job, estimate=cost)


def send_job(job: Job) -> None:
    """Queue the job for its family's workers. A lost message is re-sent by the sweeper."""
    try:
        current_app.extensions["celery"].send_task(
            "workers.run_job", args=[str(job.id)], queue=job.family)
    except Exception:  # the broker is down: the row is committed, the sweeper will send it
        log.warning("could not queue job %s; the sweeper will retry", job.id, exc_info=True)
