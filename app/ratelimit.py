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


# KEYS: the request's counters, one per identity; ARGV: the window in seconds. Counts the
# request against each and returns each count and its seconds left, all at once (a counter
# new to this window, or left without an expiry, gets the window).
_COUNT = """
local found = {}
for _, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
        redis.call('EXPIRE', key, ARGV[1])
        ttl = tonumber(ARGV[1])
    end
    table.insert(found, count)
    table.insert(found, ttl)
end
return found
"""


def waits(direct, counters: list[tuple[str, int]], window: int) -> list[int]:
    """Count one request against each (key, limit) in one round trip: the seconds until each
    spent limit resets, [] when none is spent. The window starts at a key's first request (no
    clock boundary to race against)."""
    keys = [key for key, _ in counters]
    (found,) = direct.execute([("EVAL", _COUNT, len(keys), *keys, window)])
    if isinstance(found, Exception):
        raise found
    return [max(int(ttl), 1) for (_, limit), count, ttl in zip(counters, found[0::2], found[1::2])
            if count > limit]


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
    counters = _identities()
    if not counters:
        return None
    try:
        spent = waits(current_app.extensions["redis_direct"], counters,
                      config["RATE_LIMIT_WINDOW_SECONDS"])
    except Exception:  # Redis down: serve rather than refuse everyone
        log.warning("rate limiter unavailable; request allowed")
        return None
    return _too_many(max(spent)) if spent else None


def init_rate_limits(app: Flask) -> None:
    app.before_request(check_rate_limits)
