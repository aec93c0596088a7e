"""API keys: issued once, stored as SHA-256, checked on every authenticated request."""
from __future__ import annotations

import hashlib
import secrets

from flask import request
from sqlalchemy import bindparam, select

from .errors import ApiError
from .extensions import db
from .models import Account, ApiKey

KEY_PREFIX = "gpub_"
# Built once: every authenticated request runs it, and building it costs more than running it.
ACCOUNT_BY_KEY = (select(Account).join(ApiKey, ApiKey.account_id == Account.id)
                  .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)))


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


def current_account() -> Account:
    """The account behind the request's bearer key; 401 in the shared shape otherwise."""
    # Cached on the request, not on `g`: an app context (and its `g`) can outlive a request.
    if "gpubridge.account" in request.environ:
        return request.environ["gpubridge.account"]
    token = bearer_token()
    if token is None:
        raise ApiError(401, "missing_api_key", "No API key was sent.",
                       "Send Authorization: Bearer gpub_... (POST /account/register gives one).")
    account = db.session.execute(ACCOUNT_BY_KEY, {"key_hash": hash_key(token)}
                                 ).scalar_one_or_none()
    if account is None:
        raise ApiError(401, "invalid_api_key", "The API key is not valid.",
                       "Check the key, or register for a new one at POST /account/register.")
    request.environ["gpubridge.account"] = account
    return account
