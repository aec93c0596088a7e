"""Waiting on a provider's asynchronous run (Replicate predictions, RunPod jobs)."""
from __future__ import annotations

import time
from typing import Callable

from .base import ProviderTimeout

FIRST_INTERVAL = 0.25
MAX_INTERVAL = 2.0


class StopRequested(Exception):
    """Raised by `poll` when its `stop` check said the job should stop; `state` is the run's
    last known state. The adapter cancels the run upstream and reads its usage."""

    def __init__(self, state: dict):
        super().__init__("stop requested")
        self.state = state


def poll(fetch: Callable[[float], dict], finished: Callable[[dict], bool], first: dict,
         deadline: float, cancel: Callable[[], None], what: str,
         sleep: Callable[[float], None] = time.sleep,
         stop: Callable[[], bool] | None = None) -> dict:
    """Call `fetch(timeout)` until `finished`, backing off; past `deadline`, cancel the run
    (so it stops costing) and raise ProviderTimeout. Before each poll, `stop()` (when given)
    may ask to stop: then StopRequested is raised and the caller cancels."""
    state, interval = first, FIRST_INTERVAL
    while not finished(state):
        if stop is not None and stop():
            raise StopRequested(state)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            cancel()
            raise ProviderTimeout(f"{what} did not finish in time; cancelled")
        sleep(min(interval, remaining))
        interval = min(MAX_INTERVAL, interval * 2)
        state = fetch(max(deadline - time.monotonic(), 1.0))
    return state
