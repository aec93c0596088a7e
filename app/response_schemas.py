"""Marshmallow schemas of what the native endpoints answer; the OpenAPI document is built from
them and from the request schemas in schemas.py (the ones that validate requests)."""
from __future__ import annotations

from marshmallow import Schema, fields

Money = fields.Decimal  # exact JSON numbers of USD (0.003), never a float


class Error(Schema):
    """The one error shape of every native endpoint."""

    error = fields.String(required=True, metadata={"description": "human message"})
    code = fields.String(required=True, metadata={"description": "machine code"})
    hint = fields.String(required=True, metadata={"description": "what to do"})
    field = fields.String(metadata={"description": "the offending field, when one is"})
    available_services = fields.List(fields.String())
    required_usd = Money()
    balance_usd = Money()


class RunAccepted(Schema):
    job_id = fields.UUID(required=True)
    status = fields.String(required=True)
    service = fields.String(required=True)
    model = fields.String(allow_none=True)
    status_url = fields.Url(required=True)
    estimated_cost_usd = Money(required=True)


class Progress(Schema):
    phase = fields.String()
    percent_estimate = fields.Integer()
    elapsed_seconds = fields.Float()


class AttemptView(Schema):
    backend = fields.String()
    outcome = fields.String(metadata={"enum": ["ok", "retryable", "permanent", "unavailable",
                                               "skipped", "cancelled"]})
    error = fields.String(allow_none=True)
    seconds = fields.Float()


class JobStatus(Schema):
    id = fields.UUID()
    job_id = fields.UUID()
    service = fields.String()
    model = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["queued", "running", "completed", "failed",
                                              "cancelled"]})
    progress = fields.Nested(Progress)
    output = fields.Raw(allow_none=True, metadata={"description": "depends on the service"})
    error = fields.Dict(allow_none=True)
    usage = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    estimated_cost_usd = Money()
    cost_usd = Money(allow_none=True)
    refunded = fields.Boolean()
    refund_amount_usd = Money(allow_none=True)
    settled = fields.Boolean()
    attempts = fields.List(fields.Nested(AttemptView))
    urls = fields.Dict(keys=fields.String(), values=fields.Url())


class Registered(Schema):
    api_key = fields.String(required=True, metadata={"description": "shown once"})
    account_id = fields.Integer(required=True)
    email = fields.Email()
    topup_url = fields.String()
    note = fields.String()


class Balance(Schema):
    balance = Money(required=True)
    held = Money()
    daily_spend = Money()
    daily_limit = Money()
    currency = fields.String()


class JobSummary(Schema):
    job_id = fields.UUID()
    service = fields.String()
    model = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    estimated_cost_usd = Money()
    cost_usd = Money(allow_none=True)
    refund_amount_usd = Money(allow_none=True)


class JobPage(Schema):
    jobs = fields.List(fields.Nested(JobSummary))
    next_cursor = fields.String(allow_none=True)


class BackendState(Schema):
    backend = fields.String()
    available = fields.Boolean()
    reason = fields.String(allow_none=True)


class ServiceView(Schema):
    key = fields.String()
    name = fields.String()
    category = fields.String()
    family = fields.String()
    description = fields.String()
    pricing = fields.Dict(keys=fields.String(), values=fields.String())
    models = fields.List(fields.String())
    default_model = fields.String(allow_none=True)
    default_cost_usd = Money()
    estimated_seconds = fields.Float()
    output = fields.String()
    input_schema = fields.Dict(metadata={"description": "catalog.yaml field rules"})
    available = fields.Boolean()
    backends = fields.List(fields.Nested(BackendState))


class CatalogView(Schema):
    active_endpoints = fields.Integer()
    total_services = fields.Integer()
    services = fields.List(fields.Nested(ServiceView))


class Estimate(Schema):
    service = fields.String()
    estimated_seconds = fields.Float()
    price_per_second = Money()
    estimated_cost_usd = Money()
    note = fields.String()


class Health(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded"]})
    database = fields.Dict()
    redis = fields.Dict()
    queues = fields.Dict(metadata={"description": "per queue: depth and workers"})
    backends = fields.Dict()
