"""The failover chain with fake backends of the real interface (no network)."""
import pytest

from app.catalog import parse_catalog
from providers.base import (BackendUnavailable, PermanentProviderError, Result,
                            RetryableProviderError, Usage)
from providers.router import ChainFailed, RetryPolicy, backoff, candidates, run_chain

CATALOG = parse_catalog({
    "backends": {"a": {"adapter": "local"}, "b": {"adapter": "local"}},
    "services": {"svc": {
        "name": "S", "family": "text", "pricing": {"kind": "flat", "usd": "0.01"},
        "input": {"text": {"type": "string"}},
        "backends": [{"backend": "a", "task": "embed"}, {"backend": "b", "task": "embed"}]}},
})
SERVICE = CATALOG.get("svc")


class Scripted:
    """A backend that answers from a script: an exception to raise, or 'ok'."""

    def __init__(self, name, script, reason=None):
        self.name, self.script, self.reason, self.calls = name, list(script), reason, 0

    def availability(self, task):
        return self.reason

    def run(self, call):
        self.calls += 1
        step = self.script.pop(0)
        if step == "ok":
            return Result(output={"by": self.name}, usage=Usage())
        raise step


def _run(a, b, policy=RetryPolicy(attempts_per_backend=2, base_delay=0.01)):
    attempts, sleeps = [], []
    result, step = run_chain(SERVICE, {}, None, {"a": a, "b": b}, attempts.append, policy,
                             sleep=sleeps.append)
    return result, step, attempts, sleeps


def test_retryable_error_retries_then_succeeds_on_same_backend():
    a = Scripted("a", [RetryableProviderError("503"), "ok"])
    result, step, attempts, sleeps = _run(a, Scripted("b", []))
    assert result.output == {"by": "a"} and step.backend == "a"
    assert [x.outcome for x in attempts] == ["retryable", "ok"]
    assert sleeps == [0.01]


def test_fails_over_after_retries_are_spent():
    a = Scripted("a", [RetryableProviderError("timeout")] * 2)
    result, _, attempts, _ = _run(a, Scripted("b", ["ok"]))
    assert result.output == {"by": "b"}
    assert [(x.backend, x.outcome) for x in attempts] == \
        [("a", "retryable"), ("a", "retryable"), ("b", "ok")]


def test_permanent_error_stops_the_chain_at_once():
    b = Scripted("b", ["ok"])
    with pytest.raises(ChainFailed) as failed:
        _run(Scripted("a", [PermanentProviderError("bad image")]), b)
    assert failed.value.permanent and failed.value.message == "bad image"
    assert b.calls == 0


def test_unavailable_backends_are_skipped_and_exhaustion_is_not_permanent():
    a = Scripted("a", [], reason="not configured")
    b = Scripted("b", [BackendUnavailable("gone")])
    assert [step.backend for step, _ in candidates(SERVICE, {"a": a, "b": b}, None)] == ["b"]
    with pytest.raises(ChainFailed) as failed:
        _run(a, b)
    assert not failed.value.permanent and a.calls == 0 and b.calls == 1


def test_backoff_doubles_is_capped_and_honours_retry_after():
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    assert [backoff(policy, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 4, 4]
    assert backoff(policy, 1, retry_after=3) == 3
    assert backoff(policy, 1, retry_after=60) == 4
