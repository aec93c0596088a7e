"""The RunPod serverless adapter: task `run` on an endpoint id (the catalog step's `model:`).

POST /{endpoint}/run queues the job, GET /{endpoint}/status/{id} is polled until COMPLETED,
and past the call's timeout POST /{endpoint}/cancel/{id} stops it. `executionTime` (ms) is the
usage's compute seconds. The workers behind our endpoints take our input field names as is.
"""
from __future__ import annotations

import time

from .base import BackendUnavailable, Call, Result, UpstreamError, Usage
from .media import UrlPolicy
from .outputs import shape
from .polling import poll
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
        job = poll(lambda timeout: self.client.json("GET", status_path, timeout),
                   lambda j: j.get("status") in TERMINAL, job, deadline,
                   lambda: self._cancel(f"/{endpoint}/cancel/{job['id']}"),
                   f"{self.name} job", self.sleep)
        if job["status"] != "COMPLETED":
            raise UpstreamError(f"{self.name}: job {job['status']}: {job.get('error') or ''}")
        output, files = shape(call.output, job.get("output"))
        millis = job.get("executionTime")
        seconds = millis / 1000 if millis is not None else time.monotonic() - started
        return Result(output=output, files=files, usage=Usage(compute_seconds=float(seconds)))

    def _cancel(self, path: str) -> None:
        try:
            self.client.request("POST", path, 10)
        except Exception:  # best effort: the timeout is what we report
            pass
