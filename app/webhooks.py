"""Webhook events: recorded once per (job, event) in the database, then delivered signed.

A delivery row is the outbox: its unique `event_key` makes each event exist once however often
a task is redelivered, and its `message_id`, made from that key, is the webhook-id every retry
repeats. A claim is a conditional UPDATE that also pushes `next_attempt_at` out as a lease, so
two workers never send the same attempt and a crashed one's delivery is picked up again by the
sweeper.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import time
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timezone

import simplejson
from psycopg.rows import namedtuple_row
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.orm import Session

from providers.base import ProviderError
from providers.media import post_once
from providers.urlguard import UnsafeUrlError, UrlPolicy, system_resolver

from . import webhook_signing
from .dbpool import autocommit, in_session
from .models import Job
from .status import status_object

EVENTS = ("job.started", "job.completed", "job.failed", "job.cancelled")
FINAL_EVENTS = {"completed": "job.completed", "failed": "job.failed",
                "cancelled": "job.cancelled"}
LEASE_GRACE_SECONDS = 30
#: Longer waits are not held as Celery ETAs (a Redis broker redelivers those after its
#: visibility timeout); the lifecycle sweep sends them when they fall due.
MAX_COUNTDOWN_SECONDS = 600
SLOW_PREFIX = "gpub:webhook:slow:"
SLOW_MARK_SECONDS = 600  # how long a receiver that failed a first attempt skips inline ones


@dataclass(frozen=True)
class DeliverySettings:
    """How deliveries are made: the retry schedule (seconds before attempt 1, 2, ...)."""

    schedule: tuple[float, ...]
    timeout: float
    allow_private: bool

    @classmethod
    def from_config(cls, config) -> "DeliverySettings":
        schedule = tuple(float(part) for part in str(config["WEBHOOK_RETRY_SCHEDULE"]).split(",")
                         if part.strip())
        return cls(schedule or (0.0,), float(config["WEBHOOK_TIMEOUT_SECONDS"]),
                   bool(config["ALLOW_PRIVATE_URLS"]))


# A delivery's row as an attempt reads it (the columns INSERT and `_claim` return).
Delivery = namedtuple("Delivery", "id account_id message_id url payload attempts")


@dataclass(frozen=True)
class Outcome:
    """What one attempt led to: the delivery's status and, when pending, the wait."""

    status: str
    delay: float | None = None


def envelope(event_type: str, data: dict) -> str:
    """The Standard Webhooks body: {"type", "timestamp", "data"}, money as exact numbers."""
    moment = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return _ENVELOPE.encode({"type": event_type, "timestamp": moment, "data": data})


# One encoder for every body: simplejson.dumps with options makes a new one each call.
_ENVELOPE = simplejson.JSONEncoder(use_decimal=True, separators=(",", ":"))


# A delivery, pending and due now (psycopg's style: in a session's transaction, or alone).
INSERT = (
    "INSERT INTO webhook_deliveries (account_id, job_id, event_key, event_type, message_id, "
    "url, payload) VALUES (%(acct)s, %(job)s, %(key)s, %(type)s, %(msg)s, %(url)s, "
    "%(payload)s) "
    "ON CONFLICT (event_key) DO NOTHING "
    "RETURNING id, account_id, message_id, url, payload, attempts")


def insert_params(account_id: int, job_id, key: str, event_type: str, url: str,
                  payload: str) -> dict:
    """INSERT's parameters (and INSERT_TRIED's, with the attempt's)."""
    return {"acct": account_id, "job": job_id, "key": key, "type": event_type,
            "msg": message_id(key), "url": url, "payload": payload}


def message_id(event_key: str) -> str:
    """The event's webhook-id, made from its key: should an event be written again after a
    worker died having sent it (its final event, notifications.missing_final_events), the
    receiver sees the same message again, which Standard Webhooks receivers drop by this id."""
    return "msg_" + hashlib.sha256(event_key.encode()).hexdigest()[:32]


def _insert(session: Session, *event):
    """Write the delivery, pending, unless the event exists already (no commit); the row
    written, shaped like `_claim`'s, or None. `event`: insert_params' arguments."""
    return in_session(session).cursor(row_factory=namedtuple_row).execute(
        INSERT, insert_params(*event)).fetchone()


def record_event(engine, event: dict) -> int | None:
    """Write the delivery `event` (insert_params'), pending, by itself (autocommit); its id,
    or None if the event exists already."""
    with autocommit(engine) as connection:
        row = connection.execute(INSERT, event).fetchone()
    return row[0] if row is not None else None


def job_event_key(job_id, event_type: str) -> str:
    """What makes a job's event unique (notifications.missing_final_events builds it too)."""
    return f"{job_id}:{event_type}"


def record_job_event(session: Session, job_id: uuid.UUID, event_type: str, base: str,
                     retention_hours: int = 24) -> int | None:
    """Record `event_type` for the job if it has a webhook and wants it; once per event."""
    job = session.get(Job, job_id)
    wanted = job is not None and job.webhook_url and (
        event_type != "job.started" or "job.started" in (job.webhook_events or []))
    if not wanted:
        session.commit()
        return None
    row = job_event(session, job, event_type, base, retention_hours)
    session.commit()
    return row.id if row is not None else None


def job_event(session: Session, job: Job, event_type: str, base: str, retention_hours: int = 24):
    """Write the delivery of `event_type` for a job that has a webhook (no commit); the row,
    or None if the event exists already."""
    payload = envelope(event_type, status_object(session, job, base, retention_hours))
    return _insert(session, job.account_id, job.id, job_event_key(job.id, event_type),
                   event_type, job.webhook_url, payload)


def record_account_event(session: Session, account_id: int, url: str, key: str,
                         event_type: str, data: dict) -> int | None:
    """Record an account-level event (budget alerts); `key` makes it happen once."""
    row = _insert(session, account_id, None, key, event_type, url, envelope(event_type, data))
    session.commit()
    return row.id if row is not None else None


def _claim(session: Session, delivery_id: int, lease: float):
    row = session.execute(text(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, "
        "next_attempt_at = now() + make_interval(secs => :lease) "
        "WHERE id = :id AND status = 'pending' AND next_attempt_at <= now() "
        "RETURNING id, account_id, message_id, url, payload, attempts"),
        {"id": delivery_id, "lease": lease}).one_or_none()
    session.commit()
    return row


def _post(row, signing: list[str], settings: DeliverySettings, resolve):
    """One signed POST; (status code or None, Retry-After seconds or None, error or None)."""
    body = row.payload.encode()
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "gpubridge-webhooks/1",
               "webhook-id": row.message_id, "webhook-timestamp": str(stamp),
               "webhook-signature": webhook_signing.signature_header(
                   signing, row.message_id, stamp, body)}
    policy = UrlPolicy(allow_private=settings.allow_private, timeout=settings.timeout)
    try:
        status, answer = post_once(row.url, body, headers, policy, resolve)
    except UnsafeUrlError:
        raise  # refused: the caller stops retrying
    except (ProviderError, OSError, http.client.HTTPException) as exc:
        return None, None, getattr(exc, "message", None) or str(exc) or type(exc).__name__
    retry_after = answer.get("retry-after", "")
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return status, (float(retry_after) if retry_after.isdigit() else None), error


def decide(status_code: int | None, attempts: int, retry_after: float | None,
           schedule: tuple[float, ...]) -> Outcome:
    """The delivery's next state after attempt number `attempts` (pure; unit-tested)."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome("delivered")
    if status_code == 410:  # Gone: the receiver asks us to stop
        return Outcome("gone")
    if attempts >= len(schedule):
        return Outcome("failed")
    delay = schedule[attempts]
    if retry_after is not None:  # honoured, but never past the schedule's longest wait
        delay = min(max(delay, retry_after), max(schedule))
    return Outcome("pending", delay)


def attempt(session: Session, delivery_id: int, settings: DeliverySettings,
            resolve=system_resolver) -> Outcome | None:
    """Make the delivery's next attempt if it is due; None when not due or not pending."""
    row = _claim(session, delivery_id, settings.timeout + LEASE_GRACE_SECONDS)
    if row is None:
        return None
    signing = webhook_signing.signing_secrets(session, row.account_id)
    session.commit()  # no transaction stays open across the POST
    return deliver(session, row, signing, settings, resolve)


@dataclass(frozen=True)
class Tried:
    """One attempt as its log entry records it, and what it leads to."""

    code: int | None  # the receiver's status code; None if it gave none
    latency_ms: int
    error: str | None
    outcome: Outcome

    def log_params(self) -> dict:
        """The attempt's parameters in _LOG_ATTEMPT and INSERT_TRIED."""
        return {"code": self.code, "latency": self.latency_ms, "error": self.error,
                "status": self.outcome.status, "delay": float(self.outcome.delay or 0),
                "final": self.outcome.status != "pending"}


def post_signed(row, signing: list[str], settings: DeliverySettings,
                resolve=system_resolver) -> Tried:
    """The signed POST of attempt number `row.attempts`, written nowhere."""
    started = time.monotonic()
    try:
        code, retry_after, error = _post(row, signing, settings, resolve)
        outcome = decide(code, row.attempts, retry_after, settings.schedule)
    except UnsafeUrlError as exc:
        code, error, outcome = None, exc.message, Outcome("failed")
    return Tried(code, int((time.monotonic() - started) * 1000), error, outcome)


def deliver(session: Session, row, signing: list[str], settings: DeliverySettings,
            resolve=system_resolver) -> Outcome:
    """Make the attempt `row` was claimed for: the signed POST, its log entry and the
    delivery's next state, committed."""
    tried = post_signed(row, signing, settings, resolve)
    _log_attempt(session, row, tried)
    return tried.outcome


_LOG_ATTEMPT = (
    "WITH logged AS (INSERT INTO webhook_attempts (delivery_id, number, status_code, "
    "latency_ms, error) VALUES (%(id)s, %(number)s, %(code)s, %(latency)s, %(error)s)) "
    "UPDATE webhook_deliveries SET status = %(status)s, "
    "next_attempt_at = now() + make_interval(secs => %(delay)s), "
    "finished_at = CASE WHEN %(final)s THEN now() ELSE NULL END WHERE id = %(id)s")


def _log_attempt(session: Session, row, tried: Tried) -> None:
    """The attempt's log entry and the delivery's next state: one statement, committed by
    itself (no BEGIN and COMMIT round trips)."""
    with autocommit(session.get_bind()) as connection:
        connection.execute(_LOG_ATTEMPT, {"id": row.id, "number": row.attempts,
                                          **tried.log_params()})


# Deliveries whose first attempt was made before their rows were written (a job's final
# event, workers/finish.py): each row in the state its attempt left it, with the attempt's log
# entry, for one event or many in one statement (app/webhook_log.py batches the delivered
# ones); no row and no entry for an event that exists already. The rows come as JSON (psycopg
# dumps a Python list parameter at ~15 µs a list, this one would take thirteen).
INSERT_TRIED = (
    "WITH tried AS (SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(acct bigint, "
    "job uuid, key text, type text, msg text, url text, payload text, status text, "
    "delay float8, final boolean, code integer, latency integer, error text)), "
    "written AS (INSERT INTO webhook_deliveries (account_id, job_id, event_key, event_type, "
    "message_id, url, payload, attempts, status, next_attempt_at, finished_at) "
    "SELECT acct, job, key, type, msg, url, payload, 1, status, "
    "now() + make_interval(secs => delay), CASE WHEN final THEN now() END FROM tried "
    "ON CONFLICT (event_key) DO NOTHING RETURNING id, event_key) "
    "INSERT INTO webhook_attempts (delivery_id, number, status_code, latency_ms, error) "
    "SELECT w.id, 1, t.code, t.latency, t.error FROM written w JOIN tried t "
    "ON t.key = w.event_key RETURNING delivery_id")


def unsent(event: dict) -> Delivery:
    """The delivery `event` (insert_params') will be, as its first attempt sends it."""
    return Delivery(None, event["acct"], event["msg"], event["url"], event["payload"], 1)


def tried_row(event: dict, tried: Tried) -> dict:
    """One row of INSERT_TRIED: the delivery `event` (insert_params') and its first attempt."""
    return {**event, "job": str(event["job"]), **tried.log_params()}


def write_tried(engine, rows: list[dict]) -> list[int]:
    """Write deliveries with their first attempts made (`tried_row`s), in one statement; the
    ids of those written (an event that exists already is its writer's to send)."""
    with autocommit(engine) as connection:
        written = connection.execute(INSERT_TRIED, {"rows": json.dumps(rows)}).fetchall()
    return [row[0] for row in written]


def record_tried(engine, event: dict, tried: Tried) -> int | None:
    """Write the delivery `event` with its first attempt, `tried`, made; its id, or None if
    the event exists already (its writer sends it)."""
    written = write_tried(engine, [tried_row(event, tried)])
    return written[0] if written else None


def replay(session: Session, account_id: int, delivery_id: int) -> bool:
    """Queue a finished delivery once more, same webhook-id and body; False if not possible."""
    done = session.execute(text(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), "
        "finished_at = NULL WHERE id = :id AND account_id = :acct AND status <> 'pending' "
        "AND payload IS NOT NULL RETURNING id"),
        {"id": delivery_id, "acct": account_id}).scalar()
    session.commit()
    return done is not None


def due_deliveries(session: Session, grace: float = 5.0) -> list[int]:
    """Pending deliveries whose time came (grace: a scheduled task may be just about to run)."""
    return session.execute(text(
        "SELECT id FROM webhook_deliveries WHERE status = 'pending' "
        "AND next_attempt_at <= now() - make_interval(secs => :grace) ORDER BY id LIMIT 500"),
        {"grace": grace}).scalars().all()


def send(celery, delivery_id: int, countdown: float = 0) -> None:
    """Hand a delivery to the webhooks workers."""
    celery.send_task("workers.deliver_webhook", args=[delivery_id], queue="webhooks",
                     countdown=countdown or None)


def send_next(celery, delivery_id: int, outcome: Outcome) -> None:
    """After an attempt: hand the next one to the webhooks workers if it falls due soon; the
    lifecycle sweep sends later ones when they are due."""
    if outcome.status == "pending" and outcome.delay <= MAX_COUNTDOWN_SECONDS:
        send(celery, delivery_id, outcome.delay)


def slow_key(url: str) -> str:
    """The Redis key that marks `url` slow while it lives (`mark_slow`)."""
    return SLOW_PREFIX + hashlib.sha256(url.encode()).hexdigest()[:32]  # URLs may hold tokens


def mark_slow(redis, url: str, seconds: int = SLOW_MARK_SECONDS) -> None:
    """Send `url`'s next deliveries through the webhooks workers for `seconds`."""
    try:
        redis.set(slow_key(url), 1, ex=seconds)
    except RedisError:
        pass
