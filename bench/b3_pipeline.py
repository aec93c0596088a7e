"""B3: jobs completed per second through the whole pipeline / no-op Celery tasks per second,
at the same worker concurrency (4). Goal >= 0.4.

The pipeline: claim, an llm-4090 call to the provider emulator (0 ms latency), record the
attempt, finish, settle on the ledger, and a signed webhook to a local receiver; a job counts
when the receiver has its webhook (counted there, so that measuring adds no query). The
baseline: a task that only increments a Redis counter. Each round queues N messages while
the worker consumes an idle queue, then lets it consume and times from the first item done
to the N-th. Not from the moment the queue is opened: a worker polls a queue it was just
given only once its blocking read of the idle one returns (kombu's Redis transport waits up
to 1 s), a random wait longer than a whole no-op round. Each round also reads the CPU each
process spent per item over the same window (bench/cpu.py).

Each round also runs the floor (bench/floor_app.py): a task that claims a row, calls the
emulator, ends the row and POSTs a webhook, the least the pipeline's definition allows,
with nothing of ours in it. Its ratios say how far below 0.4 any such pipeline is here, and
how much of the rest is ours.
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import redis
from sqlalchemy import text

from common import NO_RATE_LIMITS, floor_env, fresh_database, make_app, report
from cpu import CpuMeter, describe, servers, tree
from receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
N, CONCURRENCY = int(os.environ.get("B3_JOBS", "150")), 4
LLM = {"service": "llm-4090", "input": {"prompt": "hi", "max_tokens": 8}}


def start_worker(app_module: str, name: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app_module, "worker", "-Q", f"idle-{name}",
         "-n", f"{name}@%h", "--concurrency", str(CONCURRENCY), "--prefetch-multiplier", "1",
         "--without-gossip", "--without-mingle", "--loglevel", "ERROR"],
        cwd=ROOT if app_module.startswith("workers") else ROOT / "bench",
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def consume(celery, name: str, queues: list[str], start: bool) -> None:
    destination = [f"{name}@{socket.gethostname()}"]
    for queue in queues:
        if start:
            celery.control.add_consumer(queue, destination=destination, reply=True)
        else:
            celery.control.cancel_consumer(queue, destination=destination, reply=True)


def timed(celery, name: str, queues: list[str], done, meter: CpuMeter, readings: list) -> float:
    """Open the queues to the worker; items per second from the first done to the N-th.
    The meter's window is the same; (CPU by role, items) go to `readings`."""
    meter.resolve()
    consume(celery, name, queues, True)
    while done() < 1:
        time.sleep(0.001)
    meter.start()
    begun = done()  # items done while the meter read count in neither the items nor the time
    started = time.perf_counter()
    while done() < N:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    readings.append((meter.stop(), N - begun))
    consume(celery, name, queues, False)
    return (N - begun) / elapsed


def worker_meter(worker: subprocess.Popen) -> CpuMeter:
    """CPU by role while `worker` consumes: its pool, its main process, the servers, and this
    process (the emulator and the webhook receiver)."""
    return CpuMeter({"pool": lambda: tree(worker.pid)[1:],
                     "worker main": lambda: [psutil.Process(worker.pid)], **servers(),
                     "emulator+receiver": lambda: [psutil.Process()]})


def main() -> None:
    from providers.emulator import Emulator

    url, drop = fresh_database()
    broker = urlsplit(os.environ["REDIS_URL"])._replace(path="/6").geturl()  # its own database
    redis.Redis.from_url(broker).flushdb()
    receiver = Receiver()
    with Emulator() as emulator:
        env = {**emulator.env(), "DATABASE_URL": url, "REDIS_URL": broker,
               "CELERY_BROKER_URL": broker, "GPUBRIDGE_ALLOW_PRIVATE_URLS": "true",
               **NO_RATE_LIMITS, **floor_env(url)}
        os.environ.update(env)
        app = make_app(url, REDIS_URL=broker, CELERY_BROKER_URL=broker)
        workers = (start_worker("workers.celery_app", "pipe", env),
                   start_worker("floor_app:celery", "floor", env),
                   start_worker("noop_app", "noop", env))
        try:
            run(app, receiver, broker,
                tuple(worker_meter(worker) for worker in workers))
        finally:
            for process in workers:
                process.terminate()
                process.wait()
            drop()


def run(app, receiver: Receiver, broker: str, meters: tuple[CpuMeter, ...]) -> None:
    import floor_app  # reads the environment main() set
    hook = receiver.url
    client, celery = app.test_client(), app.extensions["celery"]
    key = client.post("/account/register", json={"email": "b3@example.com"}).get_json()
    with app.app_context():
        from app.extensions import db
        from billing import accounts
        accounts.grant(db.session, 1, 10**12, "bench", "bench credit")
        db.session.execute(text("UPDATE accounts SET daily_limit = 10^15"))
        db.session.commit()
    counter = redis.Redis.from_url(broker)
    headers = {"Authorization": f"Bearer {key['api_key']}"}
    wait_ready(celery, ["pipe", "floor", "noop"])
    cpu: tuple[list, list, list] = ([], [], [])

    def pipeline_round() -> float:
        for _ in range(N):
            client.post("/run", json={**LLM, "webhook_url": hook}, headers=headers)
        receiver.reset()
        return timed(celery, "pipe", ["text", "billing", "webhooks"], lambda: receiver.received,
                     meters[0], cpu[0])

    def floor_round() -> float:
        for _ in range(N):
            job_id = floor_app.insert_job(LLM["input"])
            celery.send_task("bench.floor_job", args=[job_id, hook], queue="bench-floor")
        receiver.reset()
        return timed(celery, "floor", ["bench-floor"], lambda: receiver.received,
                     meters[1], cpu[1])

    def noop_round() -> float:
        counter.set("bench:noop:done", 0)
        for _ in range(N):
            celery.send_task("bench.noop", queue="bench-noop")
        return timed(celery, "noop", ["bench-noop"], lambda: int(counter.get("bench:noop:done")),
                     meters[2], cpu[2])

    pipeline_round(), floor_round(), noop_round()  # warm-up: workers load code, connect
    for readings in cpu:  # the warm-up's CPU includes loading code
        readings.clear()
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    runs = [(pipeline_round(), floor_round(), noop_round()) for _ in range(rounds)]
    report("B3", "pipeline jobs/s / no-op tasks/s", [p / n for p, _, n in runs], ">= 0.4")
    report("B3 floor", "floor jobs/s / no-op tasks/s", [f / n for _, f, n in runs])
    report("B3 above the floor", "pipeline jobs/s / floor jobs/s", [p / f for p, f, _ in runs])
    middle = [sorted(column)[rounds // 2] for column in zip(*runs)]
    print("B3: pipeline {:.1f} jobs/s, floor {:.1f} jobs/s, no-op {:.1f} tasks/s".format(*middle))
    for label, readings in zip(("job, pipeline", "job, floor", "task, no-op"), cpu):
        print(describe(f"CPU ms per {label}", readings))


def wait_ready(celery, names: list[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = celery.control.ping(timeout=0.5) or []
        seen = {next(iter(reply)).split("@")[0] for reply in replies}
        if set(names) <= seen:
            return
    raise RuntimeError("bench workers did not start")


if __name__ == "__main__":
    main()
