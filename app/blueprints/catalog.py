"""GET /catalog and GET /catalog/estimate (no auth)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import Blueprint, current_app, request

from billing import discounts
from billing.money import duration_millis, format_usd, usd
from billing.pricing import estimate, estimate_for_duration, price_per_second

from ..auth import bearer_token, current_account
from ..catalog import Service, load_catalog
from ..errors import ApiError
from ..extensions import db

bp = Blueprint("catalog", __name__, url_prefix="/catalog")
MAX_ESTIMATE_SECONDS = 24 * 3600


def _pricing(service: Service) -> dict:
    """Prices as decimal strings, the way GPU-Bridge's catalog shows them."""
    pricing = service.pricing
    shown = {"kind": pricing.kind}
    if pricing.kind == "flat":
        shown["per_output_usd"] = format_usd(pricing.flat)
        shown.update({f"{model}_usd": format_usd(p) for model, p in pricing.by_model.items()})
    elif pricing.kind == "per_token":
        shown["minimum_usd"] = format_usd(max(pricing.flat, pricing.minimum))
        for model, (rate_in, rate_out) in pricing.per_mtok.items():
            shown[f"{model}_input_per_mtok_usd"] = format_usd(rate_in)
            shown[f"{model}_output_per_mtok_usd"] = format_usd(rate_out)
    else:
        shown["per_second_usd"] = format_usd(pricing.per_second)
        shown["minimum_usd"] = format_usd(pricing.minimum)
    return shown


def backend_states(service: Service) -> list[dict]:
    backends = current_app.extensions["backends"]
    states = []
    for step in service.chain:
        reason = backends[step.backend].availability(step.task)
        states.append({"backend": step.backend, "available": reason is None, "reason": reason})
    return states


def service_view(service: Service) -> dict:
    states = backend_states(service)
    return {
        "key": service.key, "name": service.name, "category": service.category,
        "family": service.family, "description": service.description,
        "pricing": _pricing(service), "models": list(service.models),
        "default_model": service.default_model,
        "default_cost_usd": usd(estimate(service, {}, service.default_model)),
        "estimated_seconds": typical_seconds(service), "output": service.output,
        "input_schema": service.input,
        "available": any(state["available"] for state in states), "backends": states,
    }


@bp.get("")
def catalog():
    services = [service_view(s) for s in load_catalog().services.values()]
    return {"active_endpoints": sum(1 for s in services if s["available"]),
            "total_services": len(services), "services": services}


def typical_seconds(service: Service) -> Decimal:
    """The catalog's typical run time in seconds, exact (2000 ms -> 2)."""
    return Decimal(service.estimated_millis) / 1000


def _seconds(service: Service) -> Decimal:
    raw = request.args.get("seconds")
    if raw is None:
        return typical_seconds(service)
    try:
        seconds = Decimal(raw.strip())
    except InvalidOperation:
        seconds = Decimal("NaN")
    if not seconds.is_finite() or not 0 < seconds <= MAX_ESTIMATE_SECONDS:
        raise ApiError(400, "invalid_field", f"seconds must be a number in (0, {MAX_ESTIMATE_SECONDS}].",
                       "Pass the expected run time in seconds.", field="seconds")
    return seconds


@bp.get("/estimate")
def estimate_cost():
    catalog = load_catalog()
    key = request.args.get("service", "")
    service = catalog.get(key)
    if service is None:
        raise ApiError(400, "unknown_service", f"Unknown service '{key}'.",
                       "Pass ?service= with one of available_services.",
                       available_services=sorted(catalog.services))
    seconds = _seconds(service)
    per_second = price_per_second(service)
    cost = estimate_for_duration(service, duration_millis(seconds))
    percent = _discount_percent()
    note = ("Per-second services are billed on actual compute time (minimum applies); "
            "the unused part of the hold is refunded." if per_second else
            f"{service.pricing.kind.replace('_', ' ')} pricing: seconds do not change the price.")
    return {"service": key, "estimated_seconds": seconds, "price_per_second": usd(per_second),
            "estimated_cost_usd": usd(discounts.apply(cost, percent)),
            "list_cost_usd": usd(cost), "discount_percent": percent, "note": note}


def _discount_percent() -> int:
    """The caller's volume discount when an API key is sent (the estimate needs none)."""
    if bearer_token() is None:
        return 0
    return discounts.percent_for(db.session, current_account().id)
