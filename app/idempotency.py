"""Idempotency-Key on POST /run: the first 202 is replayed for 24 hours, per account.

The database decides under concurrency. A transaction-scoped advisory lock on (account, key)
marks a request in flight: a twin that cannot take it gets 409. The key's row is written in
the submit transaction itself, so once the lock is free the row is either committed (replay,
or 422 for another body) or absent (the first request failed and changed nothing).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import ApiError

MAX_KEY_LENGTH = 255
REPLAY_HOURS = 24


@dataclass(frozen=True)
class Claim:
    account_id: int
    key: str
    request_hash: str


@dataclass(frozen=True)
class Replay:
    response: str  # the first 202's JSON text, exactly as it was sent


def request_hash(body, priority: str | None) -> str:
    """SHA-256 of the body in canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps([body, priority], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(400, "invalid_idempotency_key",
                       f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
                       "Send a unique id per logical request, e.g. a UUID.")


def claim(session: Session, account_id: int, key: str, body, priority: str | None
          ) -> Claim | Replay:
    """Take the key for this request, or return the response to replay; 409 / 422 otherwise."""
    _check_key(key)
    digest = request_hash(body, priority)
    locked = session.execute(text(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))"),
        {"name": f"idempotency:{account_id}:{key}"}).scalar()
    if not locked:
        raise ApiError(409, "idempotency_in_flight",
                       "A request with this Idempotency-Key is still being processed.",
                       "Retry in a moment to get its response.")
    row = session.execute(text(
        "SELECT request_hash, response, created_at > now() - make_interval(hours => :hours) "
        "AS fresh FROM idempotency_keys WHERE account_id = :acct AND key = :key"),
        {"acct": account_id, "key": key, "hours": REPLAY_HOURS}).one_or_none()
    if row is not None and row.fresh:
        if row.request_hash != digest:
            raise ApiError(422, "idempotency_key_reused",
                           "This Idempotency-Key was used with a different request body.",
                           "Use a new key for a new request.")
        return Replay(row.response)
    if row is not None:  # older than the replay window: the key is free again
        session.execute(text("DELETE FROM idempotency_keys WHERE account_id = :acct "
                             "AND key = :key"), {"acct": account_id, "key": key})
    return Claim(account_id, key, digest)


def remember(session: Session, claimed: Claim, job_id, response: str) -> None:
    """Store the first response's JSON text, in the submit transaction."""
    session.execute(text(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, job_id, response) "
        "VALUES (:acct, :key, :hash, :job, :response)"),
        {"acct": claimed.account_id, "key": claimed.key, "hash": claimed.request_hash,
         "job": job_id, "response": response})
