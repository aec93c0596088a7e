"""B4: GET /status/{id} latency with 1,000,000 jobs in the table / with 10,000. Goal <= 1.2.

Both tables live in fresh databases on the same server; requests go through the Flask app
in-process (the same code path gunicorn runs), to 1,000 existing ids of each table per round,
alternating between the tables request by request.
"""
import os
import time

import sqlalchemy as sa

from common import fresh_database, make_app, paired, report

LARGE = int(os.environ.get("B4_LARGE", "1000000"))
SMALL = 10_000
SAMPLE = 1000


def populate(url: str, count: int) -> list[str]:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        account = conn.execute(sa.text(
            "INSERT INTO accounts (email) VALUES ('bench@example.com') RETURNING id")).scalar()
        conn.execute(sa.text(
            "INSERT INTO jobs (id, account_id, service, family, status, input, output, usage, "
            "estimated_cost, hold_amount, actual_cost, refunded_amount, discount_amount, "
            "settled_at, finished_at, started_at) "
            "SELECT gen_random_uuid(), :acct, 'embedding-l4', 'text', 'completed', '{}', "
            "'{\"embedding\": [0.1, 0.2], \"dimensions\": 2}', '{\"outputs\": 1}', "
            "10000, 10000, 10000, 0, 0, now(), now(), now() FROM generate_series(1, :n)"),
            {"acct": account, "n": count})
    # Settled, as a table in service is: autovacuum's first pass over a million new rows
    # (due within its one-minute nap) must not land in the rounds and take their CPU.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE jobs"))
    with engine.begin() as conn:
        ids = conn.execute(sa.text(
            f"SELECT id FROM jobs TABLESAMPLE SYSTEM (1) LIMIT {SAMPLE}")).scalars().all()
        if len(ids) < SAMPLE:
            ids = conn.execute(sa.text(f"SELECT id FROM jobs LIMIT {SAMPLE}")).scalars().all()
    engine.dispose()
    return [str(i) for i in ids]


def status_seconds(client, job_id: str) -> float:
    """Seconds of one GET /status."""
    started = time.perf_counter()
    response = client.get(f"/status/{job_id}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return elapsed


def main() -> None:
    large_url, drop_large = fresh_database()
    small_url, drop_small = fresh_database()
    try:
        large_ids, small_ids = populate(large_url, LARGE), populate(small_url, SMALL)
        large, small = make_app(large_url).test_client(), make_app(small_url).test_client()
        at_large = lambda i: status_seconds(large, large_ids[i])  # noqa: E731
        at_small = lambda i: status_seconds(small, small_ids[i])  # noqa: E731
        samples = min(len(large_ids), len(small_ids))
        paired(at_large, at_small, samples, rounds=1)  # warm caches and pools
        ratios = paired(at_large, at_small, samples)
        report("B4", f"status latency at {LARGE:,} jobs / at {SMALL:,}", ratios, "<= 1.2")
    finally:
        drop_large()
        drop_small()


if __name__ == "__main__":
    main()
