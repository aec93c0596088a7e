"""B5: holds/s on one hot account / holds/s spread over 1,000 accounts.

Eight threads, each with its own autocommit connection, run the statement POST /run writes a
job with (create_job: the job row, its count against the day's limit and its hold) for a
fixed time. On one account every job locks the same day's counter and balance rows until it
commits, so this ratio shows what that serialisation costs. Each round also reads the CPU
each process spent per hold over the same window (bench/cpu.py): what the one account's lock
waits cost PostgreSQL, which B1's one-account load pays too.
"""
import threading
import time
import uuid

import psutil
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import text

from common import fresh_database, interleave, make_app, report
from cpu import CpuMeter, describe, servers

THREADS = 8
SECONDS = 2.0
ACCOUNTS = 1000


def seed(app) -> list[int]:
    from app.extensions import db
    from billing import accounts
    with app.app_context():
        ids = db.session.execute(text(
            "INSERT INTO accounts (email, daily_limit) SELECT 'b' || n || '@example.com', "
            "10^15 FROM generate_series(1, :n) n RETURNING id"), {"n": ACCOUNTS}).scalars().all()
        for account_id in ids:
            accounts.grant(db.session, account_id, 10**12, f"seed-{account_id}", "bench")
        db.session.commit()
    return list(ids)


def one_hold(connection, account_id: int) -> None:
    from app.jobs import CREATE_JOB
    connection.execute(CREATE_JOB, (uuid.uuid4(), account_id, "embedding-l4", "text", None,
                                    Jsonb({"text": "benchmark"}), None, None, 10_000, 0,
                                    None, None))


def holds_per_second(connections: list, pick, meter: CpuMeter, readings: list) -> float:
    """Holds/s of THREADS threads for SECONDS; (CPU by role, holds) go to `readings`."""
    done, stop = [0] * THREADS, time.monotonic() + SECONDS

    def run(slot: int) -> None:
        while time.monotonic() < stop:
            one_hold(connections[slot], pick(slot, done[slot]))
            done[slot] += 1
    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    meter.resolve()
    meter.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    readings.append((meter.stop(), sum(done)))
    return sum(done) / SECONDS


def main() -> None:
    url, drop = fresh_database()
    connections = []
    try:
        ids = seed(make_app(url))
        plain_url = url.replace("postgresql+psycopg://", "postgresql://")
        connections = [psycopg.connect(plain_url, autocommit=True) for _ in range(THREADS)]
        hot = lambda slot, n: ids[0]  # noqa: E731
        spread = lambda slot, n: ids[(slot * 7919 + n) % ACCOUNTS]  # noqa: E731
        meter = CpuMeter({**servers(), "client": lambda: [psutil.Process()]})
        cpu: tuple[list, list] = ([], [])
        holds_per_second(connections, spread, meter, [])  # warm-up
        ratios = interleave(lambda: holds_per_second(connections, hot, meter, cpu[0]),
                            lambda: holds_per_second(connections, spread, meter, cpu[1]))
        report("B5", "holds/s on one hot account / spread over 1,000", ratios)
        print(describe("CPU ms per hold, one account", cpu[0]))
        print(describe("CPU ms per hold, spread", cpu[1]))
    finally:
        for connection in connections:
            connection.close()
        drop()


if __name__ == "__main__":
    main()
