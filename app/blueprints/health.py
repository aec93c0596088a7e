"""GET /health: the database, Redis, and each queue's workers and depth."""
from __future__ import annotations

import time

from flask import Blueprint, current_app
from sqlalchemy import text

from workers.queues import QUEUES, queue_depths, queue_workers

from ..extensions import db

bp = Blueprint("health", __name__)


def _check(probe) -> dict:
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:  # report, never raise: /health must answer when parts are down
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round(1000 * (time.monotonic() - started), 2)}


@bp.get("/health")
def health():
    redis = current_app.extensions["redis"]
    database = _check(lambda: db.session.execute(text("SELECT 1")))
    cache = _check(redis.ping)
    depths = queue_depths(redis) if cache["ok"] else {}
    workers = queue_workers(current_app.extensions["celery"])
    queues = {name: {"depth": depths.get(name), "workers": workers.get(name, [])}
              for name in QUEUES}
    ok = database["ok"] and cache["ok"]
    body = {"status": "ok" if ok else "degraded", "database": database, "redis": cache,
            "queues": queues}
    return body, 200 if ok else 503
