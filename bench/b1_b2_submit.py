"""B1: POST /run requests/s / a bare Flask route that only sends one Celery task. Goal >= 0.6.
B2: POST /run p50 and p99 latency minus the bare route's, in ms. Goal: p50 <= 3 ms added.

Both run under gunicorn with the same settings (2 sync workers) against the same Redis; the
load is 8 keep-alive client threads for 3 s a round, rounds interleaved.
"""
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from common import NO_RATE_LIMITS, fresh_database, make_app, report
from load import run_load

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "8", "--log-level", "warning"]
THREADS, SECONDS = 8, 3.0
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


def main() -> None:
    url, drop = fresh_database()
    env = {"DATABASE_URL": url, "GPUBRIDGE_ENV": "development", **NO_RATE_LIMITS}
    ours, our_port = serve("app:create_app()", env, ROOT)
    bare, bare_port = serve("bare_app:app", env, ROOT / "bench")
    try:
        headers = {"Authorization": f"Bearer {account_key(url)}"}
        ours_load = lambda: run_load(our_port, "/run", EMBED, headers, THREADS, SECONDS)  # noqa
        bare_load = lambda: run_load(bare_port, "/run", {}, {}, THREADS, SECONDS)  # noqa
        ours_load(), bare_load()  # warm-up
        pairs = [(ours_load(), bare_load()) for _ in range(int(os.environ.get("BENCH_ROUNDS", 5)))]
        print("req/s: POST /run " + " ".join(f"{o.per_second:.0f}" for o, _ in pairs)
              + ", bare route " + " ".join(f"{b.per_second:.0f}" for _, b in pairs))
        report("B1", "POST /run req/s / bare route req/s",
               [o.per_second / b.per_second for o, b in pairs], ">= 0.6")
        for p in (50, 99):
            added = [1000 * (o.percentile(p) - b.percentile(p)) for o, b in pairs]
            print(f"B2: p{p} added latency = {statistics.median(added):.2f} ms "
                  f"(spread {min(added):.2f}..{max(added):.2f})"
                  + ("  goal <= 3 ms" if p == 50 else ""))
    finally:
        for process in (ours, bare):
            process.terminate()
            process.wait()
        drop()


if __name__ == "__main__":
    main()
