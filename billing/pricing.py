"""Prices from the catalog as pure functions on integer micro-USD."""
from __future__ import annotations

from app.catalog import Pricing, Service

from .money import ceil_div, duration_millis

CHARS_PER_TOKEN = 4  # the usual rough ratio for English text, for estimates only
TOKENS_PER_MILLION = 1_000_000


def _minimum(pricing: Pricing) -> int:
    if pricing.kind == "per_token":
        return max(pricing.minimum, pricing.flat)
    return pricing.minimum


def _flat_price(pricing: Pricing, model: str | None) -> int:
    return pricing.by_model.get(model or "", pricing.flat)


def _token_cost(pricing: Pricing, model: str | None, input_tokens: int, output_tokens: int) -> int:
    rate_in, rate_out = pricing.per_mtok.get(model or "", (0, 0))
    return ceil_div(input_tokens * rate_in + output_tokens * rate_out, TOKENS_PER_MILLION)


def millis_cost(pricing: Pricing, millis: int) -> int:
    """Per-second price for `millis` milliseconds of compute, with the minimum charge."""
    return max(_minimum(pricing), ceil_div(pricing.per_second * millis, 1000))


def _estimated_input_tokens(data: dict) -> int:
    text = "".join(str(data.get(name) or "") for name in ("system", "prompt"))
    return ceil_div(len(text), CHARS_PER_TOKEN)


def estimate(service: Service, data: dict, model: str | None = None) -> int:
    """The most a job with this input is expected to cost: the amount held at submit."""
    pricing = service.pricing
    if pricing.kind == "flat":
        outputs = int(data.get(pricing.outputs_field, 1)) if pricing.outputs_field else 1
        return _flat_price(pricing, model) * outputs
    if pricing.kind == "per_token":
        max_tokens = int(data.get("max_tokens") or service.input.get("max_tokens", {})
                         .get("default", 512))
        cost = _token_cost(pricing, model, _estimated_input_tokens(data), max_tokens)
        return max(_minimum(pricing), cost)
    return millis_cost(pricing, service.estimated_millis)


def estimate_for_duration(service: Service, millis: int) -> int:
    """What `millis` milliseconds of compute would cost (GET /catalog/estimate)."""
    if service.pricing.kind == "per_second":
        return millis_cost(service.pricing, millis)
    return estimate(service, {}, service.default_model)


def actual_cost(service: Service, model: str | None, usage: dict) -> int:
    """The price of what a job really used; the caller caps it at the hold."""
    pricing = service.pricing
    if pricing.kind == "flat":
        return _flat_price(pricing, model) * int(usage.get("outputs", 1))
    if pricing.kind == "per_token":
        cost = _token_cost(pricing, model, int(usage.get("input_tokens", 0)),
                           int(usage.get("output_tokens", 0)))
        return max(_minimum(pricing), cost)
    return millis_cost(pricing, duration_millis(usage.get("compute_seconds", 0)))


def cancelled_cost(service: Service, model: str | None, usage: dict) -> int:
    """The price of a job cancelled mid-run, from the compute seconds it used: the
    per-second price (and minimum) for per-second services; other services are charged the
    share of one output's estimate that those seconds are of the service's typical run time, never more
    than that estimate. The caller caps it at the hold."""
    used = duration_millis(usage.get("compute_seconds", 0))
    if service.pricing.kind == "per_second":
        return millis_cost(service.pricing, used)
    full = estimate(service, {}, model)
    typical = max(1, service.estimated_millis)
    return min(full, ceil_div(full * used, typical))


def price_per_second(service: Service) -> int:
    """Micro-USD per second for per-second services, else 0."""
    return service.pricing.per_second if service.pricing.kind == "per_second" else 0
