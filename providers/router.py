"""Walks a service's backend chain: retry the same backend with backoff, then fail over.

The chain is ordered by the job's priority (`order`), each backend is asked of its circuit
breaker before a call (`BackendHealth.allow`, from one read of the whole chain's breakers
until a call has taken time), and every call's outcome feeds the breaker and the latency
average. Calls are strictly sequential: a job never runs on two backends at once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from app.catalog import BackendStep, Service

from .base import (BackendUnavailable, Call, CallCancelled, PermanentProviderError,
                   ProviderError, Result)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one backend before moving to the next."""

    attempts_per_backend: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0  # also the longest Retry-After we wait for before failing over
    max_call_seconds: float = 0.0  # caps the catalog's per-call timeout when > 0


@dataclass(frozen=True)
class Attempt:
    """One call's outcome, as recorded on the job."""

    backend: str
    outcome: str  # ok | retryable | permanent | unavailable | skipped | cancelled
    error: str | None
    seconds: float
    error_class: str | None = None


class ChainFailed(Exception):
    """Raised when no backend produced a result; `permanent` means the input was at fault."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def backoff(policy: RetryPolicy, attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): doubling, capped, or the
    provider's own Retry-After when it is longer."""
    delay = min(policy.max_delay, policy.base_delay * (2 ** (attempt - 1)))
    if retry_after:
        delay = max(delay, min(retry_after, policy.max_delay))
    return delay


def order(steps: list, priority: str | None, latencies: dict[str, float]) -> list:
    """(step, backend) pairs in the order to try: `cheap` by the step's cost to us, `fast` by
    observed latency (backends never measured go after measured ones), else catalog order.
    Sorting is stable, so ties keep the catalog's order."""
    if priority == "cheap":
        return sorted(steps, key=lambda pair: pair[0].cost)
    if priority == "fast":
        return sorted(steps, key=lambda pair: (pair[0].backend not in latencies,
                                               latencies.get(pair[0].backend, 0.0)))
    return list(steps)


def candidates(service: Service, backends: dict, model: str | None,
               priority: str | None = None, latencies: dict | None = None) -> list[tuple]:
    """The chain's (step, backend) pairs that serve `model` and are available here, in the
    order `priority` asks for."""
    found = []
    for step in service.chain:
        backend = backends.get(step.backend)
        serves_model = not step.models or model in step.models
        if backend is not None and serves_model and backend.availability(step.task) is None:
            found.append((step, backend))
    return order(found, priority, latencies or {})


def _call(service: Service, step: BackendStep, data: dict, model: str | None,
          policy: RetryPolicy, should_stop: Callable[[], bool] | None = None) -> Call:
    timeout = service.timeout_millis / 1000  # the HTTP client's unit; never priced
    if policy.max_call_seconds > 0:
        timeout = min(timeout, policy.max_call_seconds)
    return Call(service=service.key, task=step.task, input=data,
                model=step.upstream_model(model), timeout=timeout, output=service.output,
                should_stop=should_stop)


class _NoHealth:
    """Health when none is shared: every backend allowed, nothing remembered."""

    def states(self, backends): return {}
    def allow(self, backend, read=None): return True
    def succeeded(self, backend, seconds): pass
    def failed(self, backend): pass
    def latencies(self): return {}


def run_chain(service: Service, data: dict, model: str | None, backends: dict,
              record: Callable[[Attempt], None], policy: RetryPolicy = RetryPolicy(),
              sleep: Callable[[float], None] = time.sleep, priority: str | None = None,
              health=None, should_stop: Callable[[], bool] | None = None
              ) -> tuple[Result, BackendStep]:
    """Run the job on the first backend that succeeds; raise ChainFailed otherwise, or
    CallCancelled when `should_stop` made an adapter cancel its run."""
    health = health or _NoHealth()
    # Only `fast` orders by latency: other priorities need no read of the shared averages.
    latencies = health.latencies() if priority == "fast" else {}
    chain = candidates(service, backends, model, priority, latencies)
    walk = _Walk(service, data, model, record, policy, sleep, health, should_stop,
                 health.states([step.backend for step, _ in chain]))
    last_error = "no backend is available for this service"
    for step, backend in chain:
        result, error = walk.try_backend(step, backend)
        if result is not None:
            return result, step
        last_error = error or last_error
    raise ChainFailed(last_error, permanent=False)


@dataclass(frozen=True)
class _Walk:
    """One job's walk down its chain: what every call needs."""

    service: Service
    data: dict
    model: str | None
    record: Callable[[Attempt], None]
    policy: RetryPolicy
    sleep: Callable[[float], None]
    health: object
    should_stop: Callable[[], bool] | None = None
    # The breakers as read when the walk began; good until its first call takes time.
    breakers: dict = field(default_factory=dict)

    def try_backend(self, step: BackendStep, backend) -> tuple[Result | None, str | None]:
        """Call one backend up to the policy's attempts: (result, None) or (None, error).
        Raises ChainFailed at once when the provider says the input is bad."""
        error = None
        for attempt in range(1, self.policy.attempts_per_backend + 1):
            if not self.health.allow(step.backend, self.breakers.pop(step.backend, None)):
                self.record(Attempt(step.backend, "skipped", "circuit breaker open", 0.0,
                                    "CircuitOpen"))
                return None, f"{step.backend}: circuit breaker open"
            self.breakers.clear()  # a call takes time: later backends are read afresh
            started = time.monotonic()
            try:
                result = backend.run(_call(self.service, step, self.data, self.model,
                                           self.policy, self.should_stop))
            except CallCancelled as exc:  # the job was cancelled: no retry, no failover
                self.record(Attempt(step.backend, "cancelled", exc.message,
                                    time.monotonic() - started, type(exc).__name__))
                raise
            except ProviderError as exc:
                error = self._failed(step, exc, time.monotonic() - started)
                if not _retry_here(exc, _outcome(exc), attempt, self.policy):
                    return None, error
                self.sleep(backoff(self.policy, attempt, getattr(exc, "retry_after", None)))
                continue
            seconds = time.monotonic() - started
            self.health.succeeded(step.backend, seconds)
            self.record(Attempt(step.backend, "ok", None, seconds))
            return result, None
        return None, error

    def _failed(self, step: BackendStep, exc: ProviderError, seconds: float) -> str:
        outcome = _outcome(exc)
        self.record(Attempt(step.backend, outcome, exc.message, seconds, type(exc).__name__))
        if outcome == "permanent":
            raise ChainFailed(exc.message, permanent=True) from exc
        if outcome == "retryable":
            self.health.failed(step.backend)
        return exc.message


def _retry_here(exc: ProviderError, outcome: str, attempt: int, policy: RetryPolicy) -> bool:
    """Retry the same backend unless retries are spent, it cannot serve, or it asked us to
    wait longer than we are willing to (then the next backend is the faster way)."""
    if outcome == "unavailable" or attempt >= policy.attempts_per_backend:
        return False
    retry_after = getattr(exc, "retry_after", None)
    return not (retry_after and retry_after > policy.max_delay)


def _outcome(exc: ProviderError) -> str:
    if isinstance(exc, PermanentProviderError):
        return "permanent"
    if isinstance(exc, BackendUnavailable):
        return "unavailable"
    return "retryable"  # RetryableProviderError, and any unclassified provider error
