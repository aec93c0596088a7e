"""The one error shape: {"error": message, "code": machine_code, "hint": what to do, ...}."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("bad_request", "Check the request against the API documentation."),
    401: ("unauthorized", "Send Authorization: Bearer gpub_..."),
    404: ("not_found", "Check the path; GET /catalog lists the services."),
    405: ("method_not_allowed", "Check the HTTP method for this path."),
    413: ("request_too_large", "Send a smaller body, or pass large media by URL."),
    415: ("unsupported_media_type", "Send Content-Type: application/json."),
    429: ("too_many_requests", "Slow down and retry later."),
}


class ApiError(Exception):
    """An error the client caused or must act on; becomes a JSON response as it is."""

    def __init__(self, status: int, code: str, message: str, hint: str = "", **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.extra = extra

    def body(self) -> dict:
        return {"error": self.message, "code": self.code, "hint": self.hint, **self.extra}


def error_response(status: int, code: str, message: str, hint: str = "", **extra):
    """A Flask response in the shared error shape."""
    return jsonify(ApiError(status, code, message, hint, **extra).body()), status


def register_error_handlers(app: Flask) -> None:
    """Make every 4xx and 5xx, ours or Werkzeug's, answer in the shared shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code, hint = _HTTP_CODES.get(exc.code or 500, ("http_error", ""))
        return error_response(exc.code or 500, code, exc.description or exc.name, hint)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Log the trace for operators; the client sees no internals.
        log.exception("unhandled error")
        return error_response(500, "internal_error", "The server failed to handle the request.",
                              "Retry later; if it persists, contact support.")
