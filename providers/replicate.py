"""The Replicate adapter: task `predict` on a model (`owner/name`) or a version (`owner/name:id`).

Creates the prediction with `Prefer: wait` (Replicate holds the request up to 60 s and often
answers with the finished prediction), then polls `urls.get`; past the call's timeout, or when
the job was cancelled (`Call.should_stop`), it posts `urls.cancel` so the run stops costing.
`metrics.predict_time` is the usage's compute seconds, of a canceled prediction too.
"""
from __future__ import annotations

import time

from .base import (BackendUnavailable, Call, CallCancelled, ProviderError, Result,
                   UpstreamError, Usage)
from .outputs import shape
from .polling import StopRequested, poll
from .urlguard import UrlPolicy
from .wire import Client

TERMINAL = ("succeeded", "failed", "canceled")
MAX_PREFER_WAIT = 60
STOPPABLE_PREFER_WAIT = 10  # a cancel is noticed only between polls: keep the first one short
#: our field names -> the names most Cog models use for the same thing
RENAMES = {"image_url": "image", "audio_url": "audio", "video_url": "video",
           "file_url": "file", "mask_url": "mask", "duration_seconds": "duration"}
DROPPED = ("model",)  # our public model name; the upstream model is in the URL


def model_input(data: dict) -> dict:
    """A Cog model's input from our validated input."""
    return {RENAMES.get(key, key): value for key, value in data.items() if key not in DROPPED}


class ReplicateBackend:
    """A backend speaking Replicate's predictions API."""

    def __init__(self, name: str, client: Client, policy: UrlPolicy, sleep=time.sleep):
        self.name, self.client, self.sleep = name, client, sleep

    def availability(self, task: str) -> str | None:
        return None if task == "predict" else f"the replicate adapter has no task {task!r}"

    def run(self, call: Call) -> Result:
        """Create the prediction, wait for it, shape its output."""
        if call.task != "predict" or not call.model:
            raise BackendUnavailable(self.availability(call.task) or "no model configured")
        started = time.monotonic()
        deadline = started + call.timeout
        prediction = self._create(call, deadline)
        try:
            prediction = poll(lambda timeout: self._get(prediction, timeout),
                              lambda p: p.get("status") in TERMINAL, prediction, deadline,
                              lambda: self._cancel(prediction), f"{self.name} prediction",
                              self.sleep, call.should_stop)
        except StopRequested as stopped:
            raise self._stopped(stopped.state, started) from None
        if prediction["status"] != "succeeded":
            detail = prediction.get("error") or prediction["status"]
            raise UpstreamError(f"{self.name}: prediction {prediction['status']}: {detail}")
        output, files = shape(call.output, prediction.get("output"))
        seconds = _predict_time(prediction)
        usage = Usage(compute_seconds=seconds if seconds is not None
                      else time.monotonic() - started,
                      outputs=max(1, len(output.get("urls", ()))))
        return Result(output=output, usage=usage, files=files)

    def _stopped(self, prediction: dict, started: float) -> CallCancelled:
        """Cancel the prediction for a job that was cancelled; its usage is the canceled
        prediction's predict_time, or our own wall time when Replicate does not say."""
        seconds = _predict_time(self._cancel(prediction) or {})
        if seconds is None:
            try:
                seconds = _predict_time(self._get(prediction, 10))
            except ProviderError:
                pass
        used = seconds if seconds is not None else time.monotonic() - started
        return CallCancelled(f"{self.name}: prediction {prediction.get('id')} canceled",
                             Usage(compute_seconds=used))

    def _create(self, call: Call, deadline: float) -> dict:
        body = {"input": model_input(call.input)}
        if ":" in call.model:
            path = "/predictions"
            body["version"] = call.model.split(":", 1)[1]
        else:
            path = f"/models/{call.model}/predictions"
        longest = MAX_PREFER_WAIT if call.should_stop is None else STOPPABLE_PREFER_WAIT
        wait = int(max(1, min(longest, deadline - time.monotonic())))
        prediction = self.client.json("POST", path, deadline - time.monotonic(), json=body,
                                      headers={"Prefer": f"wait={wait}"})
        if not isinstance(prediction, dict) or "status" not in prediction:
            raise UpstreamError(f"{self.name}: the answer is not a prediction")
        return prediction

    def _get(self, prediction: dict, timeout: float) -> dict:
        return self.client.json("GET", _url(prediction, "get"), timeout)

    def _cancel(self, prediction: dict) -> dict | None:
        """Cancel the prediction; the canceled prediction Replicate answers with, if any."""
        try:
            answer = self.client.json("POST", _url(prediction, "cancel"), 10)
        except Exception:  # best effort: the timeout (or the cancel) is what we report
            return None
        return answer if isinstance(answer, dict) else None


def _predict_time(prediction: dict) -> float | None:
    seconds = (prediction.get("metrics") or {}).get("predict_time")
    return float(seconds) if isinstance(seconds, (int, float)) else None


def _url(prediction: dict, name: str) -> str:
    urls = prediction.get("urls") or {}
    if name in urls:
        return urls[name]
    suffix = "/cancel" if name == "cancel" else ""
    return f"/predictions/{prediction.get('id')}{suffix}"
