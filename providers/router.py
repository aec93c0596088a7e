"""Walks a service's backend chain: retry the same backend with backoff, then fail over."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from app.catalog import BackendStep, Service

from .base import BackendUnavailable, Call, PermanentProviderError, ProviderError, Result


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one backend before moving to the next."""

    attempts_per_backend: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0


@dataclass(frozen=True)
class Attempt:
    """One call's outcome, as recorded on the job."""

    backend: str
    outcome: str  # ok | retryable | permanent | unavailable
    error: str | None
    seconds: float


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


def candidates(service: Service, backends: dict, model: str | None) -> list[tuple]:
    """The chain's (step, backend) pairs that serve `model` and are available here."""
    found = []
    for step in service.chain:
        backend = backends.get(step.backend)
        serves_model = not step.models or model in step.models
        if backend is not None and serves_model and backend.availability(step.task) is None:
            found.append((step, backend))
    return found


def _call(service: Service, step: BackendStep, data: dict, model: str | None) -> Call:
    return Call(service=service.key, task=step.task, input=data,
                model=step.upstream_model(model), timeout=service.timeout_seconds)


def run_chain(service: Service, data: dict, model: str | None, backends: dict,
              record: Callable[[Attempt], None], policy: RetryPolicy = RetryPolicy(),
              sleep: Callable[[float], None] = time.sleep) -> tuple[Result, BackendStep]:
    """Run the job on the first backend that succeeds; raise ChainFailed otherwise."""
    last_error = "no backend is available for this service"
    for step, backend in candidates(service, backends, model):
        for attempt in range(1, policy.attempts_per_backend + 1):
            started = time.monotonic()
            try:
                result = backend.run(_call(service, step, data, model))
            except ProviderError as exc:
                outcome = _outcome(exc)
                record(Attempt(step.backend, outcome, exc.message, time.monotonic() - started))
                if outcome == "permanent":
                    raise ChainFailed(exc.message, permanent=True) from exc
                last_error = exc.message
                if outcome == "unavailable" or attempt == policy.attempts_per_backend:
                    break
                sleep(backoff(policy, attempt, getattr(exc, "retry_after", None)))
                continue
            record(Attempt(step.backend, "ok", None, time.monotonic() - started))
            return result, step
    raise ChainFailed(last_error, permanent=False)


def _outcome(exc: ProviderError) -> str:
    if isinstance(exc, PermanentProviderError):
        return "permanent"
    if isinstance(exc, BackendUnavailable):
        return "unavailable"
    return "retryable"  # RetryableProviderError, and any unclassified provider error
