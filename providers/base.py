"""The one interface every provider backend implements, and the errors it may raise."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


class ProviderError(Exception):
    """Base of every error a backend raises; `message` is safe to show the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RetryableProviderError(ProviderError):
    """Raised for failures that may pass: timeouts, connection errors, 429 and 5xx.

    The router retries the same backend with backoff, then fails over to the next one.
    `retry_after` carries a provider's Retry-After in seconds when it sent one.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ProviderTimeout(RetryableProviderError):
    """Raised when a provider did not answer (or finish) within the call's timeout."""


class ProviderConnectionError(RetryableProviderError):
    """Raised when the provider could not be reached or dropped the connection."""


class RateLimited(RetryableProviderError):
    """Raised on HTTP 429; `retry_after` holds the provider's Retry-After when sent."""


class UpstreamError(RetryableProviderError):
    """Raised on a 5xx, a malformed answer, or a run the provider reports as failed."""


class PermanentProviderError(ProviderError):
    """Raised when the input itself is bad (a 4xx meaning "bad request", an unreadable file).

    Retrying or failing over would give the same answer, so the job fails at once, refunded.
    """


class BackendUnavailable(ProviderError):
    """Raised when a backend cannot serve at all here (no API key, a tool not installed, the
    provider refusing our key with 401/403: an operator problem, never the client's fault).

    The router skips it without counting a failed attempt against its health.
    """


def as_dict(record) -> dict:
    """A flat dataclass's fields as a dict: dataclasses.asdict deep-copies every field (about
    12 µs a call), which a record of numbers and strings does not need."""
    return dict(vars(record))


@dataclass(frozen=True)
class File:
    """A file a backend produced; the worker stores it and the client gets a URL to it."""

    content: bytes
    content_type: str


@dataclass
class Usage:
    """What a job consumed; the billing worker prices it with the catalog."""

    input_tokens: int = 0
    output_tokens: int = 0
    compute_seconds: float = 0.0  # wall or provider-reported seconds, priced per second
    outputs: int = 1  # count of priced outputs (images, requests)


@dataclass
class Result:
    """A backend's answer: a JSON-able `output`, files it refers to by key, and the usage.

    A backend puts a placeholder string ``"file:<key>"`` anywhere in `output`; the worker
    replaces it with the public URL of `files[key]` once stored.
    """

    output: Any
    usage: Usage = field(default_factory=Usage)
    files: dict[str, File] = field(default_factory=dict)


class CallCancelled(Exception):
    """Raised by an adapter that stopped a run because `Call.should_stop` said so and
    cancelled it at the provider; `usage` is what the provider reports the run used.

    Not a ProviderError: the router neither retries nor fails over, the job ends cancelled.
    """

    def __init__(self, message: str, usage: Usage):
        super().__init__(message)
        self.message = message
        self.usage = usage


@dataclass(frozen=True)
class Call:
    """One request to a backend: the task name, the validated input and the upstream model.

    `should_stop`, when given, says whether the job was cancelled meanwhile; adapters that
    poll a run (Replicate, RunPod) ask it at each poll and cancel the run upstream."""

    service: str
    task: str
    input: dict
    model: str | None = None
    timeout: float = 60.0
    output: str = "json"  # the service's output kind (catalog `output:`), for shaping answers
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)


class Backend(Protocol):
    """A provider backend. `name` is its catalog key."""

    name: str

    def availability(self, task: str) -> str | None:
        """None when the backend can run `task` here; otherwise a short reason it cannot
        (no API key configured, a local tool not installed, an unknown task)."""

    def run(self, call: Call) -> Result:
        """Run one call; raise a ProviderError subclass on failure."""
