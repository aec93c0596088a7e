"""Submitting a job: validate, price, then write it with its hold in one SQL call; send it
once that is committed."""
from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

import psycopg
from flask import current_app, request
from psycopg.types.json import Jsonb
from werkzeug.sansio.utils import get_current_url

from billing import discounts, ledger, limits
from billing.money import format_usd, usd
from billing.pricing import estimate
from providers.base import PermanentProviderError, RetryableProviderError
from providers.router import candidates
from providers.urlguard import UrlPolicy, check_url

from . import idempotency, schemas
from .auth import hash_key, invalid_key, key_owner, request_key
from .catalog import Catalog, Service
from .dbpool import autocommit, in_session
from .errors import ApiError
from .extensions import db
from .logs import job_id_var
from .models import Account, Job
from .status import public_base

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


class _Refused(Exception):
    """The database refused the job's money: short of credit, or over the day's limit. The
    statement wrote nothing; the 402 or 429 is built once its connection is given back, so
    a request never waits for a second pooled connection while holding one."""

    def __init__(self, account_id: int, needed: int, over_limit: bool):
        super().__init__("over the daily limit" if over_limit else "insufficient credit")
        self.account_id, self.needed, self.over_limit = account_id, needed, over_limit


def _refusal(exc: _Refused) -> ApiError:
    """The 402 or 429 of a refused job, with today's figures."""
    if exc.over_limit:
        return _over_limit(limits.refusal(db.session, exc.account_id, exc.needed))
    have = ledger.balance(db.session, exc.account_id)
    return ApiError(402, "insufficient_credits",
                    f"This job needs ${format_usd(exc.needed)} of credit; the balance is "
                    f"${format_usd(have)}.", "Top up at POST /account/topup.",
                    required_usd=usd(exc.needed), balance_usd=usd(have))


def _over_limit(exc: limits.DailyLimitRefusal) -> ApiError:
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
        "model": job.model, "status_url": f"{_public_root()}/status/{job.id}",
        "estimated_cost_usd": usd(job.estimated_cost), "discount_percent": job.discount_percent})


def _public_root() -> str:
    """Where status URLs point, as in every status object (`public_base`)."""
    return public_base(current_app.config, _origin(request.scheme, request.host)).rstrip("/")


@functools.lru_cache(maxsize=64)
def _origin(scheme: str, host: str) -> str:
    """`request.host_url` without its slash, remembered: a handful of hosts ask each time,
    and werkzeug's IRI decoding of it was 4% of POST /run's CPU in the web process."""
    return get_current_url(scheme, host).rstrip("/")


def submit_job(catalog: Catalog, backends: dict, account_id: int, body,
               priority: str | None = None, idempotency_key: str | None = None,
               lifecycle: dict | None = None, send: bool = True) -> Submitted:
    """In the session's transaction: claim the idempotency key (or replay), validate and
    price the request, write the job with its daily-limit count and hold; send it after
    commit. Whatever the caller already wrote there (an x402 payment's claim and credit)
    commits or rolls back with it. `lifecycle` holds the job's deadline fields from request
    headers; with send=False the caller runs the job itself (the OpenAI-compatible API)."""
    try:
        claimed = None
        if idempotency_key is not None:
            claimed = idempotency.claim(db.session, account_id, idempotency_key, body, priority)
            if isinstance(claimed, idempotency.Replay):
                db.session.rollback()
                return Submitted(response=claimed.response, replayed=True)
        connection = in_session(db.session)
        lifetime = db.session.get(Account, account_id).lifetime_topups
        job = _write_job(connection, catalog, backends, account_id, lifetime, body, priority,
                         lifecycle)
        response = accepted_body(job)
        if claimed is not None:
            idempotency.remember(db.session, claimed, job.id, response)
    except _Refused as exc:
        db.session.rollback()
        raise _refusal(exc) from None
    except BaseException:
        db.session.rollback()  # releases the key and every row it locked; nothing was written
        raise
    db.session.commit()
    if send:
        send_job(job)
    return Submitted(response=response, job=job)


def submit_now(catalog: Catalog, backends: dict, read_body: Callable[[], object],
               priority: str | None = None, lifecycle: dict | None = None) -> Submitted:
    """POST /run without an Idempotency-Key: validate and price the request, then check the
    key and write the job in one statement on an autocommit connection (the SQL function
    submit_job: no transaction to open or commit), then send it. A bad key is a 401
    whatever the body: a request that fails validation has its key checked first."""
    token = request_key()
    try:
        prepared = prepare_job(catalog, backends, read_body(), priority)
    except ApiError:
        with autocommit(db.engine) as connection:
            key_owner(connection)
        raise
    try:
        with autocommit(db.engine) as connection:
            job = _submit(connection, prepared, hash_key(token), lifecycle)
    except _Refused as exc:
        raise _refusal(exc) from None
    send_job(job)  # with the connection back in the pool
    return Submitted(response=accepted_body(job), job=job)


def _sql_array(values) -> str:
    """An SQL array literal of integers (int() lets only digits into the statement's text)."""
    return "'{" + ",".join(str(int(value)) for value in values) + "}'"


# Migrations 0011 and 0012: the key's owner, the price of its discount tier and create_job
# in one call. The tiers' thresholds and percents are constants of the statement, and the
# prices scalar parameters: psycopg's list dumper took a third of the call's client CPU.
SUBMIT_JOB = (
    "SELECT account_id, cost, discount_percent FROM submit_job("
    "%s, %s, %s, %s, %s, %s, %s, %s, "
    f"{_sql_array(tier.threshold for tier in discounts.TIERS)}::bigint[], "
    f"ARRAY[{', '.join(['%s'] * len(discounts.TIERS))}]::bigint[], "
    f"{_sql_array(tier.percent for tier in discounts.TIERS)}::smallint[], %s, %s)")


def _submit(connection, prepared: Prepared, key_hash: str, lifecycle: dict | None) -> NewJob:
    """submit_job on `connection`: the job written for the key's owner, at the price of the
    owner's discount tier; 401 for a bad key, _Refused when the money is refused."""
    job_id = uuid.uuid4()
    job_id_var.set(str(job_id))  # every later log line of this request names the job
    prices = [discounts.apply(prepared.cost, tier.percent) for tier in discounts.TIERS]
    try:
        row = connection.execute(SUBMIT_JOB, (
            key_hash, job_id, prepared.service.key, prepared.service.family, prepared.model,
            Jsonb(prepared.data), prepared.webhook_url, prepared.priority, *prices,
            _events(prepared), (lifecycle or {}).get("cancel_after"))).fetchone()
    except psycopg.Error as exc:
        if not _refused(exc):
            raise
        owner = key_owner(connection)  # what the refusal names; the statement wrote nothing
        percent = discounts.tier_for(owner.lifetime_topups).percent
        raise _Refused(owner.id, discounts.apply(prepared.cost, percent),
                       over_limit=ledger.is_over_limit(exc)) from None
    if row[0] is None:
        raise invalid_key()
    account_id, cost, percent = row
    return NewJob(job_id, prepared.service.key, prepared.service.family, prepared.model, cost,
                  percent)


def _refused(exc: psycopg.Error) -> bool:
    """create_job refused the money: short of credit (GB402) or over the day's limit (GB429)."""
    return ledger.is_insufficient(exc) or ledger.is_over_limit(exc)


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


# The SQL function of migrations 0008 and 0012: the job row, its count against the day's
# limit and its hold, all or nothing; a refusal raises and writes nothing.
CREATE_JOB = "SELECT create_job(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::smallint, %s, %s)"


def _write_job(connection, catalog: Catalog, backends: dict, account_id: int,
               lifetime_topups: int, body, priority: str | None,
               lifecycle: dict | None = None) -> NewJob:
    """Validate, price with the account's discount, and write the job with its daily-limit
    count and hold in one statement on `connection` (a psycopg connection)."""
    prepared = prepare_job(catalog, backends, body, priority)
    percent = discounts.tier_for(lifetime_topups).percent
    job = NewJob(uuid.uuid4(), prepared.service.key, prepared.service.family, prepared.model,
                 discounts.apply(prepared.cost, percent), percent)
    job_id_var.set(str(job.id))  # every later log line of this request names the job
    try:
        connection.execute(CREATE_JOB, (
            job.id, account_id, job.service, job.family, job.model, Jsonb(prepared.data),
            prepared.webhook_url, prepared.priority, job.estimated_cost, percent,
            _events(prepared), (lifecycle or {}).get("cancel_after")))
    except psycopg.Error as exc:
        if _refused(exc):
            raise _Refused(account_id, job.estimated_cost,
                           over_limit=ledger.is_over_limit(exc)) from None
        raise
    return job


def _events(prepared: Prepared) -> Jsonb | None:
    events = prepared.webhook_events
    return None if events is None else Jsonb(events)  # SQL NULL, not JSON null


def send_job(job: NewJob | Job) -> None:
    """Queue the job for its family's workers. A lost message is re-sent by the sweeper."""
    try:
        current_app.extensions["job_publisher"].send(str(job.id), job.family)
    except Exception:  # the broker is down: the row is committed, the sweeper will send it
        log.warning("could not queue job %s; the sweeper will retry", job.id, exc_info=True)
