"""Marshmallow schemas of what the native endpoints answer; the OpenAPI document is built from
them and from the request schemas in schemas.py (the ones that validate requests)."""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields

Money = fields.Decimal  # exact JSON numbers of USD (0.003), never a float


class Error(Schema):
    """The one error shape of every native endpoint; some errors add fields of their own."""

    class Meta:
        unknown = INCLUDE  # open: e.g. retry_after, packages, job_id, x402's accepts

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
    discount_percent = fields.Integer()


class Progress(Schema):
    phase = fields.String()
    percent_estimate = fields.Integer()
    elapsed_seconds = fields.Float()


class AttemptView(Schema):
    backend = fields.String()
    outcome = fields.String(metadata={"enum": ["ok", "retryable", "permanent", "unavailable",
                                               "skipped", "cancelled"]})
    error = fields.String(allow_none=True)
    error_class = fields.String(allow_none=True)
    seconds = fields.Float()


class Cost(Schema):
    estimated_usd = Money()
    actual_usd = Money(allow_none=True)
    refunded_usd = Money(allow_none=True)
    discount_usd = Money(allow_none=True)
    discount_percent = fields.Integer()


class JobStatus(Schema):
    id = fields.UUID()
    job_id = fields.UUID()
    service = fields.String()
    model = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["queued", "running", "completed", "failed",
                                              "cancelled"]})
    progress = fields.Nested(Progress)
    queue_position = fields.Integer(allow_none=True)
    output = fields.Raw(allow_none=True, metadata={"description": "depends on the service"})
    output_expired = fields.Boolean()
    error = fields.Dict(allow_none=True)
    usage = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    settled_at = fields.DateTime(allow_none=True)
    cancel_after = fields.DateTime(allow_none=True)
    cancel_requested_at = fields.DateTime(allow_none=True)
    output_expires_at = fields.DateTime(allow_none=True)
    estimated_cost_usd = Money()
    cost_usd = Money(allow_none=True)
    refunded = fields.Boolean()
    refund_amount_usd = Money(allow_none=True)
    discount_percent = fields.Integer()
    discount_usd = Money(allow_none=True)
    settled = fields.Boolean()
    cost = fields.Nested(Cost)
    attempts = fields.List(fields.Nested(AttemptView))
    urls = fields.Dict(keys=fields.String(), values=fields.Url())
    status_url = fields.Url(metadata={"description": "POST /run with Prefer: wait only"})


class Registered(Schema):
    api_key = fields.String(required=True, metadata={"description": "shown once"})
    account_id = fields.Integer(required=True)
    email = fields.Email()
    topup_url = fields.String()
    note = fields.String()


class NextTier(Schema):
    name = fields.String()
    threshold = Money()
    discountPercent = fields.Integer()
    remaining_usd = Money()


class VolumeDiscount(Schema):
    tier = fields.String()
    discount_percent = fields.Integer()
    lifetime_topups_usd = Money()
    next_tier = fields.Nested(NextTier, allow_none=True)


class AutoTopup(Schema):
    enabled = fields.Boolean()
    threshold = Money(allow_none=True)
    amount = Money(allow_none=True)
    card_saved = fields.Boolean()
    note = fields.String()


class Balance(Schema):
    balance = Money(required=True)
    held = Money()
    daily_spend = Money()
    daily_limit = Money()
    currency = fields.String()
    volume_discount = fields.Nested(VolumeDiscount)
    auto_topup = fields.Nested(AutoTopup)


class JobSummary(Schema):
    job_id = fields.UUID()
    service = fields.String()
    model = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    estimated_cost_usd = Money()
    cost_usd = Money(allow_none=True)
    refunded = fields.Boolean()
    refund_amount_usd = Money(allow_none=True)
    discount_percent = fields.Integer()
    discount_usd = Money(allow_none=True)


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
    list_cost_usd = Money()
    discount_percent = fields.Integer()
    note = fields.String()


class Health(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded"]})
    database = fields.Dict()
    redis = fields.Dict()
    queues = fields.Dict(metadata={"description": "per queue: depth and workers"})
    backends = fields.Dict()
    breakers = fields.Dict(metadata={"description": "per remote backend: its circuit breaker"})
    x402 = fields.Dict(metadata={"description": "whether USDC payments are taken"})


class NewKey(Schema):
    api_key = fields.String(required=True, metadata={"description": "shown once"})
    account_id = fields.Integer(required=True)
    note = fields.String()


class Recovery(Schema):
    status = fields.String()
    message = fields.String()


class SpendingLimit(Schema):
    daily_limit = Money()
    currency = fields.String()
    period = fields.String()


class Checkout(Schema):
    checkout_url = fields.Url()
    url = fields.Url()
    session_id = fields.String()
    amount_usd = Money()
    package = fields.String(allow_none=True)
    bonus_usd = Money()
    credits_usd = Money()
    note = fields.String()


class CryptoDeposit(Schema):
    deposit_id = fields.Integer()
    package = fields.String()
    network = fields.String()
    chain_id = fields.Integer()
    asset = fields.String()
    pay_to = fields.String()
    amount = Money()
    amount_base_units = fields.String()
    bonus_usd = Money()
    credits_usd = Money()
    confirmations = fields.Integer()
    expires_at = fields.DateTime()
    note = fields.String()


class Alerts(Schema):
    webhook_url = fields.String(allow_none=True)
    balance_below_usd = Money(allow_none=True)
    events = fields.List(fields.String())


class WebhookSecret(Schema):
    secret = fields.String()
    previous_secret_valid_until = fields.DateTime()
    note = fields.String()


class DeliveryAttempt(Schema):
    number = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    at = fields.DateTime()


class Delivery(Schema):
    id = fields.Integer()
    webhook_id = fields.String()
    event_type = fields.String()
    job_id = fields.UUID(allow_none=True)
    url = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(allow_none=True)
    attempts = fields.List(fields.Nested(DeliveryAttempt))


class DeliveryPage(Schema):
    deliveries = fields.List(fields.Nested(Delivery))


class Replay(Schema):
    id = fields.Integer()
    status = fields.String()


class StripeReceived(Schema):
    received = fields.Boolean()
    event_id = fields.String()
    outcome = fields.String()
