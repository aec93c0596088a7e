"""Waiting on a provider's asynchronous run (Replicate predictions, RunPod jobs)."""
from __future__ import annotations

import time
from typing import Callable

from .base import ProviderTimeout

FIRST_INTERVAL = 0.25
MAX_INTERVAL = 2.0


def poll(fetch: Callable[[float], dict], finished: Callable[[dict], bool], first: dict,
         deadline: float, cancel: Callable[[], None], what: str,
         sleep: Callable[[float], None] = time.sleep) -> dict:
    """Call `fetch(timeout)` until `finished`, backing off; past `deadline`, cancel the run
    (so it stops costing) and raise ProviderTimeout."""
    state, interval = first, FIRST_INTERVAL
    while not finished(state):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            cancel()
            raise ProviderTimeout(f"{what} did not finish in time; cancelled")
        sleep(min(interval, remaining))
        interval = min(MAX_INTERVAL, interval * 2)
        state = fetch(max(deadline - time.monotonic(), 1.0))
    return state
