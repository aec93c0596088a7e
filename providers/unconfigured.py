"""Stand-in for a backend that cannot serve here: no API key configured, or disabled."""
from __future__ import annotations

from .base import BackendUnavailable, Call, Result


class UnconfiguredBackend:
    """A backend that is always unavailable, saying why (no key, or disabled by the operator)."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def availability(self, task: str) -> str | None:
        return self.reason

    def run(self, call: Call) -> Result:
        raise BackendUnavailable(self.reason)
