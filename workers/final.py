"""A job's final statement: its status, last attempt, files and settlement in one SQL call.

`finish_job` (migration 0010) runs on an autocommit connection and is atomic by itself. The
job's row and its attempts, which the final webhook and the budget alerts need, come back
from the same statement (`ended_job`, migration 0014; the attempts as JSON): one round trip,
and one statement psycopg prepares (in a pipeline of two it could not safely: a statement a
failed pipeline skipped is taken for prepared).

The settlement is priced here, before the call, from what the claim returned. Should pricing
or the settling part of the call fail (a pricing bug, a constraint), the job still ends: the
call is made again without the settlement, and the settle task settles the job later.
"""
from __future__ import annotations

import json
import logging
from collections import namedtuple
from dataclasses import dataclass
from types import SimpleNamespace

from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Engine

from app import webhook_signing
from app.catalog import Catalog
from app.dbpool import autocommit
from app.models import Job
from billing import settlement
from providers.base import as_dict
from providers.router import Attempt

log = logging.getLogger(__name__)

# The ended job's columns as this code knows them, listed, not `(e.job).*`: a prepared
# statement whose result gains a column fails on every later call ("cached plan must not
# change result type"), so a migration that adds one would break every running worker. All
# but its input, which nothing after the job's end reads and which may hold a whole media
# file (base64 in JSON) that PostgreSQL would send back and the worker parse again.
_ENDED_COLUMNS = ", ".join([f"(e.job).{column.name}" for column in Job.__table__.columns
                            if column.name != "input"] + ["e.alerts", "e.tried"])
# With the job's end, the secrets that sign its final event (the webhook's first attempt is
# made before its row is written: workers/finish.py).
_SIGNING = ("CASE WHEN (e.job).webhook_url IS NOT NULL THEN "
            + webhook_signing.SIGNING_ARRAY.format(account="(e.job).account_id")
            + " END AS signing")
# finish_job, then the job as it left it (ended_job, migration 0014): one round trip.
_FINISH_JOB = (
    f"SELECT f.finished, f.auto_topup_id, {_ENDED_COLUMNS}, {_SIGNING} "
    "FROM finish_job(%(id)s, %(delivery)s, %(status)s, %(output)s::jsonb, %(error)s::jsonb, "
    "%(usage)s::jsonb, "
    "%(attempts)s::jsonb, %(tokens)s::text[], %(types)s::text[], %(data)s::bytea[], "
    "%(captured)s, %(refunded)s, %(discount)s) f "
    "LEFT JOIN LATERAL ended_job(%(id)s, f.finished) e ON true")
_ENDED_JOB = f"SELECT {_ENDED_COLUMNS} FROM ended_job(%(id)s, true) e"
# A job_attempts row as the status object reads it.
AttemptRow = namedtuple("AttemptRow", "backend outcome error error_class seconds")


@dataclass(frozen=True)
class Ending:
    """What a delivery ends its job with (JSON-able values, or None)."""

    status: str
    output: object = None
    error: dict | None = None
    usage: dict | None = None
    files: tuple = ()  # (token, content type, bytes) of each file the job produced


@dataclass(frozen=True)
class Final:
    """The job as its final statement left it."""

    status: str
    settled: bool
    auto_topup_id: int | None  # an auto top-up the settlement armed, to be sent
    job: object  # its row, with `alerts`: whether the account has budget alerts
    attempts: list  # its job_attempts rows, oldest first


def write(engine: Engine, claimed, ending: Ending, attempts: list[Attempt],
          catalog: Catalog | None = None) -> Final | None:
    """End the claimed job (settled too, given the catalog to price it); None if another
    delivery took it over, in which case only the attempts are written."""
    quote = _quote(catalog, claimed, ending) if catalog is not None else None
    if quote is not None:
        try:
            return _call(engine, claimed, ending, attempts, quote)
        except Exception:  # the job ends all the same; the settle task settles it
            log.exception("settling job %s with its final status failed", claimed.job_id)
    return _call(engine, claimed, ending, attempts, None)


def _quote(catalog: Catalog, claimed, ending: Ending) -> settlement.Quote | None:
    ended = SimpleNamespace(service=claimed.service, model=claimed.model, status=ending.status,
                            usage=ending.usage, hold_amount=claimed.hold_amount,
                            discount_percent=claimed.discount_percent)
    try:
        return settlement.quote(catalog, ended)
    except Exception:
        log.exception("pricing job %s failed", claimed.job_id)
        return None


def _call(engine: Engine, claimed, ending: Ending, attempts: list[Attempt],
          quote: settlement.Quote | None) -> Final | None:
    params = _params(claimed, ending, attempts, quote)
    with autocommit(engine) as connection:
        job = connection.cursor(row_factory=namedtuple_row).execute(
            _FINISH_JOB, params).fetchone()
    if not job.finished:
        return None
    tried = [AttemptRow(**attempt) for attempt in job.tried]
    return Final(ending.status, quote is not None, job.auto_topup_id, job, tried)


def read_ended(connection, job_id):
    """The job's row, with `alerts` (the account has budget alerts) and `tried` (its attempts
    as JSON, oldest first); None if there is no such job."""
    return connection.cursor(row_factory=namedtuple_row).execute(
        _ENDED_JOB, {"id": job_id}).fetchone()


def _params(claimed, ending: Ending, attempts: list[Attempt],
            quote: settlement.Quote | None) -> dict:
    def jsonb(value):
        return None if value is None else json.dumps(value)
    settled = {"captured": quote.split.captured, "refunded": quote.split.refunded,
               "discount": quote.discount} if quote is not None else \
        {"captured": None, "refunded": None, "discount": None}
    return {
        "id": claimed.job_id, "delivery": claimed.delivery, "status": ending.status,
        "output": jsonb(ending.output), "error": jsonb(ending.error),
        "usage": jsonb(ending.usage),
        "attempts": json.dumps([as_dict(attempt) for attempt in attempts]),
        **_file_arrays(ending.files), **settled}


def _file_arrays(files: tuple) -> dict:
    """The files as three parallel arrays; NULL when there are none (unnest yields no rows
    either way, and most jobs have no file: psycopg's list dumper costs each call ~15 µs)."""
    if not files:
        return {"tokens": None, "types": None, "data": None}
    return {"tokens": [file[0] for file in files], "types": [file[1] for file in files],
            "data": [file[2] for file in files]}

