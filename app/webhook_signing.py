"""Standard Webhooks signing: per-account whsec_ secrets, rotation with a grace period.

The signed content is "{webhook-id}.{webhook-timestamp}.{body}"; the signature header holds
"v1,<base64 HMAC-SHA256>" once per valid secret, space-separated, so receivers holding either
the old or the new secret accept a delivery during a rotation.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from .dbpool import in_session

PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh whsec_ secret (base64 of random bytes, as Standard Webhooks libraries expect)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One "v1,<signature>" for `body` under `secret`."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: one signature per valid secret."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_)


def current_secret(session: Session, account_id: int) -> str:
    """The account's current secret, created on first use (a unique index settles races)."""
    secret = _current_or_new(session, account_id)
    session.commit()
    return secret


def _current_or_new(session: Session, account_id: int) -> str:
    """`current_secret` in the caller's transaction (no commit)."""
    session.execute(text(
        "INSERT INTO webhook_secrets (account_id, secret) VALUES (:acct, :secret) "
        "ON CONFLICT (account_id) WHERE retired_at IS NULL DO NOTHING"),
        {"acct": account_id, "secret": new_secret()})
    return session.execute(text(
        "SELECT secret FROM webhook_secrets WHERE account_id = :acct AND retired_at IS NULL"),
        {"acct": account_id}).scalar_one()


# The secrets that sign now as one array, current first, NULL when the account has no current
# secret (signing_secrets makes it): a subquery for a statement that reads them beside other
# things (workers/final.py), with `{account}` the account's id there.
SIGNING_ARRAY = (
    "(SELECT CASE WHEN bool_or(retired_at IS NULL) THEN array_agg(secret ORDER BY "
    "retired_at IS NULL DESC, id DESC) END FROM webhook_secrets WHERE account_id = {account} "
    "AND (retired_at IS NULL OR retired_at > now()))")

SIGNING = (
    "SELECT secret, retired_at IS NULL AS current FROM webhook_secrets "
    "WHERE account_id = %(acct)s AND (retired_at IS NULL OR retired_at > now()) "
    "ORDER BY retired_at IS NULL DESC, id DESC")


def signing_secrets(session: Session, account_id: int) -> list[str]:
    """Every secret that signs now: the current one first, then those still in their grace.

    One read in the caller's transaction, no commit; only an account with no secret yet writes
    one (always trying the INSERT would make every delivery a write transaction)."""
    rows = in_session(session).execute(SIGNING, {"acct": account_id}).fetchall()
    return from_rows(session, account_id, rows)


def from_rows(session: Session, account_id: int, rows) -> list[str]:
    """The secrets that sign now, from the (secret, current) rows SIGNING read; writes the
    current secret in the session's transaction, no commit, if the account has none yet."""
    if not rows or not rows[0][1]:
        return [_current_or_new(session, account_id), *(row[0] for row in rows)]
    return [row[0] for row in rows]


def rotate(session: Session, account_id: int, grace: timedelta) -> tuple[str, datetime]:
    """Retire the current secret after `grace` and make a new one; returns it and the end."""
    current_secret(session, account_id)  # make sure there is one to retire
    until = datetime.now(timezone.utc) + grace
    session.execute(text(
        "UPDATE webhook_secrets SET retired_at = :until "
        "WHERE account_id = :acct AND retired_at IS NULL"), {"acct": account_id, "until": until})
    secret = new_secret()
    session.execute(text(
        "INSERT INTO webhook_secrets (account_id, secret) VALUES (:acct, :secret)"),
        {"acct": account_id, "secret": secret})
    session.commit()
    return secret, until
