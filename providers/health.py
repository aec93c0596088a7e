"""Backend health shared by every worker process through Redis: circuit breakers and latency.

Breaker per backend, with no clock of our own (Redis key expiry does the timing):
- closed: `fails` < threshold; every call goes through. A success resets `fails`.
- open: `threshold` consecutive failures set `open` with a TTL of the cool-down; while that key
  lives, every worker skips the backend.
- half-open: the `open` key expired but `fails` is still at the threshold; exactly one worker
  wins the `probe` key (SET NX) and calls the backend. Success closes the breaker; a failure
  re-opens it for another cool-down.
Latency: an exponentially weighted moving average of successful calls' seconds, for
`X-Priority: fast`. If Redis is down, every backend is allowed (we fail open, not closed).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import redis as redis_lib

from app.redis_direct import DirectRedis

log = logging.getLogger(__name__)
PREFIX = "gpub:backend:"
LATENCY_KEY = "gpub:latency"
EWMA_WEIGHT = 0.3  # weight of the newest sample
# KEYS: fails, open, probe, the latency hash; ARGV: backend, seconds, weight.
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local old = redis.call('HGET', KEYS[4], ARGV[1])
local new = tonumber(ARGV[2])
if old then new = (1 - tonumber(ARGV[3])) * tonumber(old) + tonumber(ARGV[3]) * new end
redis.call('HSET', KEYS[4], ARGV[1], string.format('%.17g', new))
"""


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and for how long."""

    threshold: int = 5
    cooldown: float = 30.0
    probe_ttl: float = 300.0  # a probe that dies without reporting frees the slot after this


class BackendHealth:
    """Breakers and latency averages for all backends, kept in one Redis. `direct`: the
    round trips of the hot path (by default its own on `redis`)."""

    def __init__(self, redis, policy: BreakerPolicy = BreakerPolicy(),
                 direct: DirectRedis | None = None):
        self.redis, self.policy = redis, policy
        self.direct = direct or DirectRedis(redis)

    def _key(self, backend: str, part: str) -> str:
        return f"{PREFIX}{backend}:{part}"

    def states(self, backends: list[str], also: tuple = ()) -> dict[str, tuple]:
        """Every backend's breaker as `allow` reads it, (open, fails), in one command; {} if
        Redis is down. A job reads its whole chain at once, so that skipping an open breaker
        costs it no round trip of its own. `also`: the caller's own commands, sent in that
        round trip (they share its fate if Redis is down)."""
        keys = self._keys(backends)
        commands = [*also, ("MGET", *keys)] if keys else list(also)
        try:
            replies = self.direct.execute(commands) if commands else []
        except redis_lib.RedisError:
            return {}
        if not keys or isinstance(replies[-1], redis_lib.RedisError):
            return {}
        return self._pairs(backends, replies[-1])

    def _keys(self, backends: list[str]) -> list[str]:
        return [self._key(backend, part) for backend in backends for part in ("open", "fails")]

    def _pairs(self, backends: list[str], found: list) -> dict[str, tuple]:
        return {backend: (is_open is not None, fails)
                for backend, is_open, fails in zip(backends, found[0::2], found[1::2])}

    def allow(self, backend: str, read: tuple | None = None) -> bool:
        """Whether this worker may call `backend` now (a half-open breaker admits one probe).
        `read`: the backend's entry of `states`, when nothing has happened since."""
        try:
            is_open, fails = read if read is not None else self._pairs(
                [backend], self.redis.mget(self._keys([backend])))[backend]
            if is_open:
                return False
            if int(fails or 0) < self.policy.threshold:
                return True
            return bool(self.redis.set(self._key(backend, "probe"), 1, nx=True,
                                       px=int(self.policy.probe_ttl * 1000)))
        except redis_lib.RedisError:
            log.warning("backend health unavailable; allowing %s", backend)
            return True

    def succeeded(self, backend: str, seconds: float) -> None:
        """Close the breaker and fold `seconds` into the latency average, in one round trip."""
        try:
            self.redis.execute_command(*self.succeeded_command(backend, seconds))
        except redis_lib.RedisError:
            log.warning("could not record success of %s", backend)

    def succeeded_command(self, backend: str, seconds: float) -> tuple:
        """`succeeded` as a command of the caller's round trip (which reports its errors)."""
        keys = [self._key(backend, part) for part in ("fails", "open", "probe")] + [LATENCY_KEY]
        return ("EVAL", _SUCCEEDED, len(keys), *keys, backend, repr(seconds),
                repr(EWMA_WEIGHT))

    def failed(self, backend: str) -> None:
        """Count a failure; at the threshold, open the breaker for the cool-down."""
        try:
            fails = self.redis.incr(self._key(backend, "fails"))
            if fails >= self.policy.threshold:
                self.redis.set(self._key(backend, "open"), 1,
                               px=max(1, int(self.policy.cooldown * 1000)))
                self.redis.delete(self._key(backend, "probe"))
        except redis_lib.RedisError:
            log.warning("could not record failure of %s", backend)

    def latencies(self) -> dict[str, float]:
        """Average seconds per backend that has had a success."""
        try:
            raw = self.redis.hgetall(LATENCY_KEY)
        except redis_lib.RedisError:
            return {}
        return {_text(name): float(value) for name, value in raw.items()}

    def state(self, backend: str) -> dict:
        """What /health shows: closed | open | half_open, the failure count, the latency."""
        pipe = self.redis.pipeline()
        pipe.exists(self._key(backend, "open"))
        pipe.get(self._key(backend, "fails"))
        pipe.pttl(self._key(backend, "open"))
        pipe.hget(LATENCY_KEY, backend)
        is_open, fails, ttl, latency = pipe.execute()
        fails = int(fails or 0)
        state = "open" if is_open else ("half_open" if fails >= self.policy.threshold
                                        else "closed")
        found = {"state": state, "consecutive_failures": fails,
                 "latency_ms": round(float(latency) * 1000, 1) if latency else None}
        if is_open and ttl and ttl > 0:
            found["retry_in_seconds"] = round(ttl / 1000, 1)
        return found


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
