"""The RunPod serverless adapter: task `run` on an endpoint id (the catalog step's `model:`).

POST /{endpoint}/run queues the job, GET /{endpoint}/status/{id} is polled until COMPLETED,
and past the call's timeout, or when the job was cancelled (`Call.should_stop`),
POST /{endpoint}/cancel/{id} stops it. `executionTime` (ms) is the usage's compute seconds, of a
cancelled run too. The workers behind our endpoints take our input field names as is.
"""
from __future__ import annotations

import time

from .base import (BackendUnavailable, Call, CallCancelled, ProviderError, Result,
                   UpstreamError, Usage)
from .outputs import shape
from .polling import StopRequested, poll
from .urlguard import UrlPolicy
from .wire import Client

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


class RunPodBackend:
    """A backend speaking RunPod's serverless endpoint API."""

    def __init__(self, name: str, client: Client, policy: UrlPolicy, sleep=time.sleep):
        self.name, self.client, self.sleep = name, client, sleep

    def availability(self, task: str) -> str | None:
        return None if task == "run" else f"the runpod adapter has no task {task!r}"

    def run(self, call: Call) -> Result:
        """Queue the job on the endpoint, wait for it, shape its output."""
        if call.task != "run" or not call.model:
            raise BackendUnavailable(self.availability(call.task) or "no endpoint configured")
        started = time.monotonic()
        deadline = started + call.timeout
        endpoint = call.model
        job = self.client.json("POST", f"/{endpoint}/run", call.timeout,
                               json={"input": call.input})
        if not isinstance(job, dict) or not job.get("id"):
            raise UpstreamError(f"{self.name}: the answer has no job id")
        status_path = f"/{endpoint}/status/{job['id']}"
        cancel_path = f"/{endpoint}/cancel/{job['id']}"
        try:
            job = poll(lambda timeout: self.client.json("GET", status_path, timeout),
                       lambda j: j.get("status") in TERMINAL, job, deadline,
                       lambda: self._cancel(cancel_path), f"{self.name} job", self.sleep,
                       call.should_stop)
        except StopRequested:
            raise self._stopped(cancel_path, status_path, started) from None
        if job["status"] != "COMPLETED":
            raise UpstreamError(f"{self.name}: job {job['status']}: {job.get('error') or ''}")
        output, files = shape(call.output, job.get("output"))
        seconds = _execution_seconds(job)
        return Result(output=output, files=files, usage=Usage(
            compute_seconds=seconds if seconds is not None else time.monotonic() - started))

    def _stopped(self, cancel_path: str, status_path: str, started: float) -> CallCancelled:
        """Cancel the run for a job that was cancelled; its usage is the executionTime the
        status reports after the cancel, or our own wall time when RunPod does not say."""
        seconds = _execution_seconds(self._cancel(cancel_path) or {})
        if seconds is None:
            try:
                seconds = _execution_seconds(self.client.json("GET", status_path, 10))
            except ProviderError:
                pass
        used = seconds if seconds is not None else time.monotonic() - started
        return CallCancelled(f"{self.name}: job cancelled", Usage(compute_seconds=used))

    def _cancel(self, path: str) -> dict | None:
        """Cancel the run; RunPod's answer ({id, status}), if any."""
        try:
            answer = self.client.json("POST", path, 10)
        except Exception:  # best effort: the timeout (or the cancel) is what we report
            return None
        return answer if isinstance(answer, dict) else None


def _execution_seconds(job) -> float | None:
    millis = job.get("executionTime") if isinstance(job, dict) else None
    return millis / 1000 if isinstance(millis, (int, float)) else None
