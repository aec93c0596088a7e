"""API keys: issued once, stored as SHA-256, checked on every authenticated request."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from flask import request

from .dbpool import in_session
from .errors import ApiError
from .extensions import db
from .models import Account, ApiKey

KEY_PREFIX = "gpub_"
# The one rule of a valid key is the SQL function key_owner (migration 0011), which POST
# /run's submit_job also calls. Run on a bare driver connection.
KEY_OWNER = "SELECT id, lifetime_topups FROM key_owner(%s)"


@dataclass(frozen=True)
class KeyOwner:
    """The account behind a valid key, with what pricing its job needs."""

    id: int
    lifetime_topups: int  # decides the volume discount


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(account_id: int) -> str:
    """Create a new key for the account (in the caller's transaction) and return it."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiKey(account_id=account_id, key_hash=hash_key(key), prefix=key[:12]))
    return key


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def request_key() -> str:
    """The request's bearer key; 401 in the shared shape when none was sent."""
    token = bearer_token()
    if token is None:
        raise ApiError(401, "missing_api_key", "No API key was sent.",
                       "Send Authorization: Bearer gpub_... (POST /account/register gives one).")
    return token


def invalid_key() -> ApiError:
    return ApiError(401, "invalid_api_key", "The API key is not valid.",
                    "Check the key, or register for a new one at POST /account/register.")


def key_owner(connection) -> KeyOwner:
    """The owner of the request's bearer key, read on `connection` (a psycopg connection);
    401 in the shared shape when there is no key or it is not valid."""
    row = connection.execute(KEY_OWNER, (hash_key(request_key()),)).fetchone()
    if row is None:
        raise invalid_key()
    return KeyOwner(*row)


def current_account() -> Account:
    """The account behind the request's bearer key, loaded in the session; 401 otherwise."""
    # Cached on the request, not on `g`: an app context (and its `g`) can outlive a request.
    if "gpubridge.account" in request.environ:
        return request.environ["gpubridge.account"]
    owner = key_owner(in_session(db.session))
    account = db.session.get(Account, owner.id)
    request.environ["gpubridge.account"] = account
    return account
