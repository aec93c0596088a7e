"""A small closed-loop HTTP load generator: N threads, keep-alive connections, fixed time."""
from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def merged(cls, results: list["LoadResult"]) -> "LoadResult":
        """Several runs of one load as one: their requests, seconds and latencies together."""
        return cls(sum(r.requests for r in results), sum(r.seconds for r in results),
                   [latency for r in results for latency in r.latencies])

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run_load(port: int, path: str, body: dict, headers: dict, threads: int,
             seconds: float, expect: int = 202) -> LoadResult:
    """POST `body` to 127.0.0.1:`port` from `threads` clients for `seconds`."""
    payload = json.dumps(body)
    all_headers = {"Content-Type": "application/json", **headers}
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.monotonic() + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("POST", path, payload, all_headers)
            response = conn.getresponse()
            response.read()
            if response.status != expect:
                raise RuntimeError(f"unexpected {response.status} from {path}")
            latencies[slot].append(time.perf_counter() - started)
        conn.close()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    flat = [x for slot in latencies for x in slot]
    return LoadResult(len(flat), time.monotonic() - began, flat)
