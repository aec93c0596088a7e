"""Typed errors: each API error `code` (and HTTP status) maps to one exception class."""
from __future__ import annotations


class GpuBridgeError(Exception):
    """Any error answered by the API; `code`, `hint` and the whole `body` are kept."""

    def __init__(self, message: str, code: str = "", hint: str = "", status: int | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        self.status = status
        self.body = body or {}

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" + (f" — {self.hint}" if self.hint else "")


class ConnectionFailed(GpuBridgeError):
    """The API could not be reached after every retry."""


class InvalidRequestError(GpuBridgeError):
    """400: bad input (unknown service, missing or invalid field); nothing was charged."""


class AuthenticationError(GpuBridgeError):
    """401: no API key, or a key the server does not know."""


class InsufficientCreditsError(GpuBridgeError):
    """402: the balance does not cover the job's estimate; `required_usd` says how much."""


class NotFoundError(GpuBridgeError):
    """404: no such job, file or path."""


class ConflictError(GpuBridgeError):
    """409: e.g. the email is registered already, or an Idempotency-Key reused differently."""


class RateLimitError(GpuBridgeError):
    """429: too many requests; `retry_after` is the server's Retry-After in seconds."""

    retry_after: float | None = None


class ServiceUnavailableError(GpuBridgeError):
    """503: no backend can run the service now, or a store is down; retry later."""


class ServerError(GpuBridgeError):
    """5xx other than 503: the server failed."""


class JobFailed(GpuBridgeError):
    """A job finished `failed` or `cancelled`; `job` is its final status object."""

    def __init__(self, job: dict):
        error = job.get("error") or {}
        super().__init__(error.get("message") or f"job {job.get('job_id')} {job.get('status')}",
                         code=error.get("code") or job.get("status", ""), body=job)
        self.job = job


class JobTimeout(GpuBridgeError):
    """The job did not finish within the time the caller was willing to wait."""


BY_CODE = {"insufficient_credits": InsufficientCreditsError, "missing_api_key":
           AuthenticationError, "invalid_api_key": AuthenticationError,
           "no_backend": ServiceUnavailableError, "too_many_requests": RateLimitError,
           "rate_limited": RateLimitError, "job_not_found": NotFoundError}
BY_STATUS = {400: InvalidRequestError, 401: AuthenticationError, 402: InsufficientCreditsError,
             404: NotFoundError, 409: ConflictError, 422: InvalidRequestError,
             429: RateLimitError, 503: ServiceUnavailableError}


def error_for(status: int, body: dict) -> GpuBridgeError:
    """The exception for an error response in the API's shared shape."""
    code = str(body.get("code", ""))
    cls = BY_CODE.get(code) or BY_STATUS.get(status) or (
        ServerError if status >= 500 else GpuBridgeError)
    message = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {status}"
    return cls(message, code=code, hint=str(body.get("hint", "")), status=status, body=body)
