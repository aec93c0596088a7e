"""Input PostgreSQL cannot store: a NUL character in the path, the query or a JSON body is
refused with 400 before any view runs (PostgreSQL text and jsonb reject it, which was a 500)."""
from __future__ import annotations

from flask import Flask, request

from .errors import ApiError

NUL = "\x00"


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def refuse_nul() -> None:
    """before_request: 400 invalid_input when any text of the request holds a NUL."""
    body = request.get_json(silent=True) if b"\\u0000" in request.get_data(cache=True) else None
    query = request.query_string  # a NUL reaches the arguments only written as %00 (or raw)
    if NUL in request.path or b"%00" in query or b"\x00" in query or _has_nul(body):
        raise ApiError(400, "invalid_input", "The request contains a NUL (\\u0000) character.",
                       "Remove NUL characters; they cannot be stored.")


def init_guards(app: Flask) -> None:
    app.before_request(refuse_nul)
