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
            "queues": queues, "backends": backend_states()}
    return body, 200 if ok else 503
