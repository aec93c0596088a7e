"""B6: time to a successful LLM call with the primary backend failing / with it healthy, once
the primary's circuit breaker has opened. Goal <= 1.2.

Two provider emulators (0 ms latency): on one, groq (llm-4090's first backend) answers 500 to
everything. Each side has its own breakers in its own Redis database. The router runs
in-process exactly as a worker runs it; 50 calls a side per round, alternating call by call,
and the ratio of the median seconds per call.
"""
import os
import time

import redis

from common import paired, report
from app.catalog import load_catalog
from app.config import load_config
from providers.emulator import Emulator
from providers.health import BackendHealth, BreakerPolicy
from providers.registry import build_backends
from providers.router import RetryPolicy, run_chain

CALLS = 50
MODEL = "llama-3.3-70b-versatile"
POLICY = RetryPolicy(attempts_per_backend=2, base_delay=0.05)


def setup(emulator: Emulator, redis_db: int):
    config = load_config({**os.environ, **emulator.env()})
    backends = build_backends(load_catalog(), config)
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    client = redis.Redis.from_url(f"{base}/{redis_db}")
    client.flushdb()
    return backends, BackendHealth(client, BreakerPolicy(threshold=3, cooldown=3600))


def seconds_per_call(backends, health) -> float:
    """Seconds of one call through the chain, as a worker makes it."""
    started = time.perf_counter()
    run_chain(load_catalog().get("llm-4090"), {"prompt": "hi", "max_tokens": 8}, MODEL, backends,
              lambda attempt: None, POLICY, health=health)
    return time.perf_counter() - started


def main() -> None:
    with Emulator() as healthy, Emulator() as failing:
        failing.fault("groq", "status", status=500)  # no count: every call fails
        good = setup(healthy, 4)
        bad = setup(failing, 5)
        for _ in range(CALLS):  # warm up; opens bad's breaker
            seconds_per_call(*good), seconds_per_call(*bad)
        assert bad[1].state("groq")["state"] == "open", bad[1].state("groq")
        ratios = paired(lambda _: seconds_per_call(*bad), lambda _: seconds_per_call(*good),
                        CALLS)
        report("B6", "time to success, primary failing (breaker open) / healthy", ratios,
               "<= 1.2")


if __name__ == "__main__":
    main()
