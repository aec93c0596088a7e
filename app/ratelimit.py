"""Rate limits per API key and per client address, counted in Redis so every web process and
host shares them. Over the limit: 429 with Retry-After (OpenAI's error shape under /v1)."""
from __future__ import annotations

import hashlib
import logging

from flask import Flask, current_app, request

from .auth import bearer_token
from .errors import error_response

log = logging.getLogger(__name__)
PREFIX = "gpubridge:rl"
EXEMPT = ("/static/", "/health", "/metrics")


def hit(redis, key: str, limit: int, window: int) -> int | None:
    """Count one request against `key`; None if allowed, else seconds until it resets.

    The window starts at the key's first request (no clock boundary to race against)."""
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.ttl(key)
    count, ttl = pipe.execute()
    if ttl < 0:
        redis.expire(key, window)
        ttl = window
    return None if count <= limit else max(int(ttl), 1)


def _identities() -> list[tuple[str, int]]:
    config = current_app.config
    found = []
    if config["RATE_LIMIT_PER_ADDRESS"]:
        found.append((f"{PREFIX}:addr:{request.remote_addr}", config["RATE_LIMIT_PER_ADDRESS"]))
    token = bearer_token()
    if token and config["RATE_LIMIT_PER_KEY"]:
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]  # never the key itself
        found.append((f"{PREFIX}:key:{digest}", config["RATE_LIMIT_PER_KEY"]))
    return found


def _too_many(retry_after: int):
    message = "Too many requests; slow down."
    if request.path.startswith("/v1/"):
        body = {"error": {"message": message, "type": "rate_limit_error", "param": None,
                          "code": "rate_limited"}}
        response = current_app.response_class(current_app.json.dumps(body), 429,
                                               mimetype="application/json")
    else:
        response = current_app.make_response(error_response(
            429, "rate_limited", message, f"Retry after {retry_after} seconds.",
            retry_after=retry_after))
    response.headers["Retry-After"] = str(retry_after)
    return response


def check_rate_limits():
    """before_request: refuse the request when any of its limits is spent."""
    config = current_app.config
    if not (config["RATE_LIMIT_PER_KEY"] or config["RATE_LIMIT_PER_ADDRESS"]):
        return None  # both limits off
    if request.path.startswith(EXEMPT):
        return None
    window = config["RATE_LIMIT_WINDOW_SECONDS"]
    try:
        waits = [hit(current_app.extensions["redis"], key, limit, window)
                 for key, limit in _identities()]
    except Exception:  # Redis down: serve rather than refuse everyone
        log.warning("rate limiter unavailable; request allowed")
        return None
    waits = [w for w in waits if w]
    return _too_many(max(waits)) if waits else None


def init_rate_limits(app: Flask) -> None:
    app.before_request(check_rate_limits)
