"""B4: GET /status/{id} latency with 1,000,000 jobs in the table / with 10,000. Goal <= 1.2.

Both tables live in fresh databases on the same server; requests go through the Flask app
in-process (the same code path gunicorn runs), 300 random existing ids per round.
"""
import os
import statistics
import time

import sqlalchemy as sa

from common import fresh_database, interleave, make_app, report

LARGE = int(os.environ.get("B4_LARGE", "1000000"))
SMALL = 10_000
SAMPLE = 300


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
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE jobs"))
        ids = conn.execute(sa.text(
            f"SELECT id FROM jobs TABLESAMPLE SYSTEM (1) LIMIT {SAMPLE}")).scalars().all()
        if len(ids) < SAMPLE:
            ids = conn.execute(sa.text(f"SELECT id FROM jobs LIMIT {SAMPLE}")).scalars().all()
    engine.dispose()
    return [str(i) for i in ids]


def latency(client, ids: list[str]) -> float:
    """Median seconds of one GET /status over the sample."""
    times = []
    for job_id in ids:
        started = time.perf_counter()
        response = client.get(f"/status/{job_id}")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return statistics.median(times)


def main() -> None:
    large_url, drop_large = fresh_database()
    small_url, drop_small = fresh_database()
    try:
        large_ids, small_ids = populate(large_url, LARGE), populate(small_url, SMALL)
        large, small = make_app(large_url).test_client(), make_app(small_url).test_client()
        latency(large, large_ids), latency(small, small_ids)  # warm caches and pools
        ratios = interleave(lambda: latency(large, large_ids), lambda: latency(small, small_ids))
        report("B4", f"status latency at {LARGE:,} jobs / at {SMALL:,}", ratios, "<= 1.2")
    finally:
        drop_large()
        drop_small()


if __name__ == "__main__":
    main()
