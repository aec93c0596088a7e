"""B5: holds/s on one hot account / holds/s spread over 1,000 accounts.

Eight threads, each with its own session, submit-style transactions (job row + hold on the
ledger) for a fixed time. On one account every hold locks the same balance row, so this ratio
shows what that serialisation costs.
"""
import threading
import time
import uuid

from sqlalchemy import text

from common import fresh_database, interleave, make_app, report

THREADS = 8
SECONDS = 2.0
ACCOUNTS = 1000


def seed(app) -> list[int]:
    from app.extensions import db
    from billing import accounts
    with app.app_context():
        ids = db.session.execute(text(
            "INSERT INTO accounts (email) SELECT 'b' || n || '@example.com' "
            "FROM generate_series(1, :n) n RETURNING id"), {"n": ACCOUNTS}).scalars().all()
        for account_id in ids:
            accounts.grant(db.session, account_id, 10**12, f"seed-{account_id}", "bench")
        db.session.commit()
    return list(ids)


def one_hold(session, account_id: int) -> None:
    from app.models import Job
    from billing import accounts
    job = Job(id=uuid.uuid4(), account_id=account_id, service="embedding-l4", family="text",
              input={}, estimated_cost=10_000, hold_amount=10_000)
    session.add(job)
    session.flush()
    accounts.hold(session, account_id, job.id, 10_000)
    session.commit()


def holds_per_second(app, pick) -> float:
    from app.extensions import db
    done, stop = [0] * THREADS, time.monotonic() + SECONDS

    def run(slot: int) -> None:
        with app.app_context():
            while time.monotonic() < stop:
                one_hold(db.session, pick(slot, done[slot]))
                done[slot] += 1
            db.session.remove()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / SECONDS


def main() -> None:
    url, drop = fresh_database()
    try:
        app = make_app(url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 2})
        ids = seed(app)
        hot = lambda slot, n: ids[0]  # noqa: E731
        spread = lambda slot, n: ids[(slot * 7919 + n) % ACCOUNTS]  # noqa: E731
        holds_per_second(app, spread)  # warm-up
        ratios = interleave(lambda: holds_per_second(app, hot),
                            lambda: holds_per_second(app, spread))
        report("B5", "holds/s on one hot account / spread over 1,000", ratios)
    finally:
        drop()


if __name__ == "__main__":
    main()
