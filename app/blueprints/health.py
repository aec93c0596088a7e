"""GET /health: the database, Redis, and each queue's workers and depth."""
from __future__ import annotations

import time

from flask import Blueprint, current_app
from sqlalchemy import text

from workers.queues import QUEUES, broker_depths, queue_workers

from ..catalog import load_catalog
from ..extensions import db

bp = Blueprint("health", __name__)


def _check(probe) -> dict:
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:  # report, never raise: /health must answer when parts are down
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round(1000 * (time.monotonic() - started), 2)}


def backend_states() -> dict:
    """Per backend, each task the catalog uses it for: true, or the reason it cannot run."""
    backends = current_app.extensions["backends"]
    tasks: dict[str, set] = {}
    for service in load_catalog().services.values():
        for step in service.chain:
            tasks.setdefault(step.backend, set()).add(step.task)
    return {name: {task: backends[name].availability(task) or True for task in sorted(used)}
            for name, used in sorted(tasks.items())}


def breaker_states() -> dict:
    """Per remote backend: its circuit breaker (closed | open | half_open) and latency."""
    health = current_app.extensions["backend_health"]
    remote = [key for key, spec in load_catalog().backends.items() if spec.adapter != "local"]
    return {name: health.state(name) for name in sorted(remote)}


def _report(probe):
    try:
        return probe()
    except Exception as exc:  # /health answers even when a part is down
        return {"error": type(exc).__name__}


def x402_state() -> dict:
    """Whether USDC payments are taken, where, and whether payers are screened."""
    config = current_app.config
    if not config["X402_PAY_TO"]:
        return {"enabled": False}
    screening = "on" if config["X402_SANCTIONS_ORACLE"] else \
        "off: development mode without X402_SANCTIONS_ORACLE; payers are not screened"
    return {"enabled": True, "network": config["X402_NETWORK"],
            "chain_id": config["X402_CHAIN_ID"], "pay_to": config["X402_PAY_TO"],
            "asset": config["X402_USDC_ADDRESS"], "sanctions_screening": screening,
            "exact_scheme": bool(config["X402_SETTLER_KEY"])}


@bp.get("/health")
def health():
    redis = current_app.extensions["redis"]
    database = _check(lambda: db.session.execute(text("SELECT 1")))
    cache = _check(redis.ping)
    celery = current_app.extensions["celery"]
    depths, reason = broker_depths(celery, redis)
    workers = queue_workers(celery)
    queues = {name: {"depth": depths.get(name), "workers": workers.get(name, [])}
              for name in QUEUES}
    for info in queues.values():
        if info["depth"] is None:
            info["depth_error"] = reason or "queue not declared on the broker yet"
    ok = database["ok"] and cache["ok"]
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": cache,
            "queues": queues, "backends": backend_states(),
            "breakers": _report(breaker_states) if cache["ok"] else {}, "x402": x402_state()}
    return body, 200 if ok else 503
