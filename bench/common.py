"""What every benchmark shares: fresh databases, interleaved rounds, and the ratio report.

Each benchmark measures a candidate and a baseline in the same run, alternating them round by
round (so drift of the machine hits both alike), and prints the median ratio with its spread.
Run them with `make bench` (embedded servers) or with DATABASE_URL / REDIS_URL set.
"""
from __future__ import annotations

import os
import statistics
import sys
import uuid
from pathlib import Path
from typing import Callable

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import normalise_database_url  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def fresh_database() -> tuple[str, Callable[[], None]]:
    """A new migrated database on DATABASE_URL's server, and a function that drops it."""
    base = sa.engine.make_url(normalise_database_url(os.environ["DATABASE_URL"]))
    name = f"gpubridge_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    app = make_app(url)
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
    return url, drop


def floor_env(database_url: str) -> dict:
    """The environment of bench/floor_app.py on `database_url`'s database, its table made."""
    libpq = sa.engine.make_url(database_url).set(drivername="postgresql")
    libpq = libpq.render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(FLOOR_TABLE)
    return {"FLOOR_DATABASE_URL": libpq}


# A job row with only its primary key: no index, constraint or column a floor does not need.
FLOOR_TABLE = """CREATE TABLE bench_floor_jobs (
    id uuid PRIMARY KEY, status text NOT NULL DEFAULT 'queued', input jsonb NOT NULL,
    output jsonb, created_at timestamptz NOT NULL DEFAULT now())"""

NO_RATE_LIMITS = {"GPUBRIDGE_RATE_LIMIT_PER_KEY": "0", "GPUBRIDGE_RATE_LIMIT_PER_ADDRESS": "0"}


def make_app(database_url: str, **config):
    """The app on `database_url`, without rate limits (a benchmark is one client on purpose)."""
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "RATE_LIMIT_PER_KEY": 0,
                       "RATE_LIMIT_PER_ADDRESS": 0, **config})


def interleave(candidate: Callable[[], float], baseline: Callable[[], float],
               rounds: int = ROUNDS) -> list[float]:
    """Run both `rounds` times, alternating; return candidate/baseline for each round."""
    ratios = []
    for _ in range(rounds):
        measured = candidate()
        reference = baseline()
        ratios.append(measured / reference)
    return ratios


def paired(candidate: Callable[[int], float], baseline: Callable[[int], float], samples: int,
           rounds: int = ROUNDS) -> list[float]:
    """For measurements of one item at a time (a request, a call): each round takes `samples`
    of each, alternating one by one, so that the machine's drift within the round hits both
    alike; returns the ratio of their medians for each round. Each callable gets the index
    of its sample and returns its seconds."""
    ratios = []
    for _ in range(rounds):
        times: tuple[list, list] = ([], [])
        for index in range(samples):
            times[0].append(candidate(index))
            times[1].append(baseline(index))
        ratios.append(statistics.median(times[0]) / statistics.median(times[1]))
    return ratios


def report(name: str, what: str, ratios: list[float], goal: str | None = None) -> None:
    """Print the median ratio, its spread (min..max) and the goal, in one line."""
    median = statistics.median(ratios)
    spread = f"{min(ratios):.3f}..{max(ratios):.3f}"
    target = f"  goal {goal}" if goal else ""
    print(f"{name}: {what} = {median:.3f} (spread {spread}, {len(ratios)} rounds){target}")
