"""Cancelling a run mid-flight: the Replicate and RunPod adapters against the emulator."""
import pytest

from providers.base import Call, CallCancelled
from providers.urlguard import UrlPolicy
from providers.polling import StopRequested, poll
from providers.replicate import ReplicateBackend
from providers.runpod import RunPodBackend
from providers.wire import Client
from tests.unit.emulated import clean, emulator  # noqa: F401 (fixtures)


def backend(emulator, cls, env):
    name = env.lower()
    return cls(name, Client(name, emulator.base_urls()[env], "k"), UrlPolicy(),
               sleep=lambda s: None)


class StopAfter:
    """`should_stop` that says yes from its `n`-th question on (a cancel arriving mid-run)."""

    def __init__(self, n):
        self.n, self.asked = n, 0

    def __call__(self):
        self.asked += 1
        return self.asked >= self.n


def call(task, model, stop, timeout=30.0):
    return Call(service="svc", task=task, input={"prompt": "x"}, model=model, timeout=timeout,
                output="audio", should_stop=stop)


def test_poll_asks_before_each_fetch_and_stops_without_fetching_again():
    fetched = []
    with pytest.raises(StopRequested) as stopped:
        poll(lambda t: fetched.append(t) or {"n": len(fetched)}, lambda s: False, {"n": 0},
             float("inf"), lambda: None, "run", lambda s: None, StopAfter(3))
    assert len(fetched) == 2 and stopped.value.state == {"n": 2}


def test_replicate_cancels_upstream_and_reports_the_canceled_predict_time(emulator):
    replicate = backend(emulator, ReplicateBackend, "REPLICATE")
    emulator.fault("replicate", "processing", path="/models/", compute_seconds=7.5)
    stop = StopAfter(3)
    with pytest.raises(CallCancelled) as cancelled:
        replicate.run(call("predict", "meta/musicgen", stop))
    assert cancelled.value.usage.compute_seconds == 7.5
    requests = [(r["method"], r["path"].rsplit("/", 1)[-1])
                for r in emulator.requests("replicate")]
    assert requests[0] == ("POST", "predictions") and requests[-1] == ("POST", "cancel")
    assert [m for m, _ in requests].count("GET") == 2  # polled twice before the stop


def test_replicate_prefers_a_short_first_wait_when_the_job_can_be_cancelled(emulator):
    replicate = backend(emulator, ReplicateBackend, "REPLICATE")
    seen = []
    original = replicate.client.json
    replicate.client.json = lambda method, path, timeout, **kw: (
        seen.append(kw.get("headers")), original(method, path, timeout, **kw))[1]
    replicate.run(call("predict", "meta/musicgen", lambda: False, timeout=120))
    assert seen[0] == {"Prefer": "wait=10"}


def test_runpod_cancels_upstream_and_reads_the_execution_time_after(emulator):
    runpod = backend(emulator, RunPodBackend, "RUNPOD")
    emulator.fault("runpod", "processing", path="/run", compute_seconds=4.2)
    with pytest.raises(CallCancelled) as cancelled:
        runpod.run(call("run", "video", StopAfter(2)))
    assert cancelled.value.usage.compute_seconds == 4.2
    paths = [r["path"] for r in emulator.requests("runpod")]
    assert "/runpod/v2/video/cancel/" in paths[-2] and "/runpod/v2/video/status/" in paths[-1]


def test_without_a_cancel_the_run_finishes_as_before(emulator):
    runpod = backend(emulator, RunPodBackend, "RUNPOD")
    emulator.fault("runpod", "processing", path="/run", polls=2)
    stop = StopAfter(100)
    result = runpod.run(call("run", "musicgen", stop))
    assert result.usage.compute_seconds == 1.5 and stop.asked == 3
