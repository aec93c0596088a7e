"""B1: POST /run requests/s / a bare Flask route that only sends one Celery task. Goal >= 0.6.
B2: POST /run p50 and p99 latency minus the bare route's, in ms. Goal: p50 <= 3 ms added.

Both run under gunicorn with the same settings, the Procfile's web defaults (2 workers of 8
threads), against the same Redis. B1's load is 8 keep-alive client threads, 3 s a route a
round, in six turns of 0.5 s that alternate the routes: the machine's speed drifts within
seconds, and turns that short let the drift hit them alike. Each loaded round also reads the
CPU each process spent per request over its turns (bench/cpu.py). Both
routes keep the cores busy, so B1 is about the bare route's CPU per request (the machine's
in all) divided by POST /run's.
B2 is measured with one client, one request at a time: under a saturating load a request's
latency is mostly its wait in the queue (threads / throughput), which B1 already reports, so
the loaded figures are printed only for reference. Rounds interleave candidate and baseline.

Each round also loads a third route, the floor (bench/floor_app.py): the bare route plus one
committed row, the least any route keeping invariant 2 does. Its ratios say how much of the
gap to the bare route any such API pays, and how much is ours.
"""
import functools
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
from sqlalchemy import text

from common import NO_RATE_LIMITS, floor_env, fresh_database, make_app, report
from cpu import CpuMeter, describe, servers, tree
from load import LoadResult, run_load

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "8", "--log-level", "warning"]
THREADS, SECONDS, TURNS = 8, 3.0, 6
EMBED = {"service": "embedding-l4", "input": {"text": "benchmark"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(target: str, env: dict, cwd: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(GUNICORN + ["--bind", f"127.0.0.1:{port}", target],
                               cwd=cwd, env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{target} did not start")


def account_key(url: str) -> str:
    app = make_app(url)
    client = app.test_client()
    key = client.post("/account/register", json={"email": "bench@example.com"}).get_json()
    with app.app_context():
        from app.extensions import db
        from billing import accounts
        accounts.grant(db.session, 1, 10**12, "bench", "bench credit")
        db.session.execute(text("UPDATE accounts SET daily_limit = 10^15"))
        db.session.commit()
    return key["api_key"]


def meter(server: subprocess.Popen) -> CpuMeter:
    """CPU by role while `server` takes load: its gunicorn, the databases, this client."""
    return CpuMeter({"gunicorn": lambda: tree(server.pid), **servers(),
                     "client": lambda: [psutil.Process()]})


def alternated(loads: tuple, meters: tuple, readings: tuple) -> tuple[LoadResult, ...]:
    """One loaded round: each load (a callable taking its seconds) runs in TURNS turns,
    alternating with the others'; each one's turns make one result, and the CPU of its
    turns, summed, goes to its list of `readings` as (CPU by role, requests)."""
    for meter in meters:
        meter.resolve()
    turns = tuple([] for _ in loads)
    used = tuple(Counter() for _ in loads)
    for _ in range(TURNS):
        for side, load in enumerate(loads):
            meters[side].start()
            turns[side].append(load(SECONDS / TURNS))
            used[side].update(meters[side].stop())
    results = tuple(LoadResult.merged(side) for side in turns)
    for side, result in enumerate(results):
        readings[side].append((dict(used[side]), result.requests))
    return results


def print_added(label: str, pairs: list, p: int, goal: str = "") -> None:
    added = [1000 * (ours.percentile(p) - bare.percentile(p)) for ours, bare in pairs]
    print(f"{label} = {statistics.median(added):.2f} ms "
          f"(spread {min(added):.2f}..{max(added):.2f}){goal}")


def main() -> None:
    url, drop = fresh_database()
    env = {"DATABASE_URL": url, "GPUBRIDGE_ENV": "development", **NO_RATE_LIMITS}
    ours, our_port = serve("app:create_app()", env, ROOT)
    floor, floor_port = serve("floor_app:app", {**env, **floor_env(url)}, ROOT / "bench")
    bare, bare_port = serve("bare_app:app", env, ROOT / "bench")
    try:
        headers = {"Authorization": f"Bearer {account_key(url)}"}
        ours_at = lambda threads, seconds=SECONDS: run_load(  # noqa: E731
            our_port, "/run", EMBED, headers, threads, seconds)
        floor_at = functools.partial(run_load, floor_port, "/run", EMBED, {})
        bare_at = lambda threads, seconds=SECONDS: run_load(  # noqa: E731
            bare_port, "/run", {}, {}, threads, seconds)
        ours_at(THREADS), floor_at(THREADS, SECONDS), bare_at(THREADS)  # warm-up
        meters = meter(ours), meter(floor), meter(bare)
        loads = (functools.partial(ours_at, THREADS), functools.partial(floor_at, THREADS),
                 functools.partial(bare_at, THREADS))
        loaded, single, cpu = [], [], ([], [], [])
        for _ in range(int(os.environ.get("BENCH_ROUNDS", 5))):
            loaded.append(alternated(loads, meters, cpu))
            single.append((ours_at(1), bare_at(1)))
        print("req/s: POST /run " + " ".join(f"{o.per_second:.0f}" for o, _, _ in loaded)
              + ", floor " + " ".join(f"{f.per_second:.0f}" for _, f, _ in loaded)
              + ", bare route " + " ".join(f"{b.per_second:.0f}" for _, _, b in loaded))
        for label, readings in zip(("POST /run", "floor", "bare route"), cpu):
            print(describe(f"CPU ms per request, {label}", readings))
        report("B1", "POST /run req/s / bare route req/s",
               [o.per_second / b.per_second for o, _, b in loaded], ">= 0.6")
        report("B1 floor", "one committed row + task req/s / bare route req/s",
               [f.per_second / b.per_second for _, f, b in loaded])
        report("B1 above the floor", "POST /run req/s / floor req/s",
               [o.per_second / f.per_second for o, f, _ in loaded])
        print_added("B2: p50 added latency, one client", single, 50, "  goal <= 3 ms")
        print_added("B2: p99 added latency, one client", single, 99)
        print_added("    for reference, p50 added under B1's load",
                    [(ours, bare) for ours, _, bare in loaded], 50)
    finally:
        for process in (ours, floor, bare):
            process.terminate()
            process.wait()
        drop()


if __name__ == "__main__":
    main()
