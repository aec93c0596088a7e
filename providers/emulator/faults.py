"""Faults the emulator injects, set through POST /_faults.

A fault is a JSON object:
    {"backend": "groq" | "*", "path": "/chat/completions" (substring, optional),
     "kind": "status" | "latency" | "hang" | "reset" | "malformed" | "processing",
     "status": 503, "retry_after": 2, "message": "...", "seconds": 0.5, "times": 3}
- status: answer `status` (429 adds Retry-After: `retry_after`) with an error body in the
  protocol's shape; latency: wait `seconds`, then answer normally; hang: wait `seconds`
  (default 30) and close without answering; reset: drop the connection (TCP RST);
  malformed: 200 with a body that is not JSON; processing: a Replicate prediction or RunPod job
  created now stays unfinished for `polls` status requests (default: until cancelled); once
  cancelled it reports `compute_seconds` used (default: its wall time since created) as
  `metrics.predict_time` (Replicate) or `executionTime` in ms (RunPod).
- times: how many requests it applies to (default: until DELETE /_faults).
The first matching fault wins; faults are kept in order of arrival.
"""
from __future__ import annotations

import threading

KINDS = ("status", "latency", "hang", "reset", "malformed", "processing")


class Faults:
    """The fault list, safe to use from the server's threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[dict] = []

    def add(self, fault: dict) -> None:
        if fault.get("kind") not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self._lock:
            self._faults.append(dict(fault))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def listed(self) -> list[dict]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def take(self, backend: str, path: str) -> dict | None:
        """The first fault matching this request, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.get("backend", "*") not in ("*", backend):
                    continue
                if fault.get("path") and fault["path"] not in path:
                    continue
                if "times" in fault:
                    if fault["times"] <= 0:
                        continue
                    fault["times"] -= 1
                return dict(fault)
        return None
