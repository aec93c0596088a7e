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


# ---------------------------------------------------------------- ordering and health

from app.catalog import BackendStep  # noqa: E402
from providers.router import order  # noqa: E402

STEPS = [(BackendStep("groq", "chat", cost=500), "g"),
         (BackendStep("deepinfra", "chat", cost=400), "d"),
         (BackendStep("fireworks", "chat", cost=700), "f"),
         (BackendStep("together", "chat", cost=700), "t")]


def test_no_priority_keeps_the_catalog_order():
    assert [b for _, b in order(STEPS, None, {"fireworks": 0.1})] == ["g", "d", "f", "t"]


def test_cheap_orders_by_cost_keeping_ties_in_catalog_order():
    assert [b for _, b in order(STEPS, "cheap", {})] == ["d", "g", "f", "t"]


def test_fast_orders_by_latency_with_unmeasured_backends_last():
    latencies = {"together": 0.2, "groq": 0.9, "fireworks": 0.1}
    assert [b for _, b in order(STEPS, "fast", latencies)] == ["f", "t", "g", "d"]


class Breakers:
    """Health with scripted breakers: `closed` backends are allowed."""

    def __init__(self, closed):
        self.closed, self.failures, self.successes = set(closed), [], []

    def states(self, backends):
        return {}

    def allow(self, backend, read=None):
        return backend in self.closed

    def failed(self, backend):
        self.failures.append(backend)

    def succeeded(self, backend, seconds):
        self.successes.append(backend)

    def latencies(self):
        return {}


def test_an_open_breaker_skips_the_backend_and_is_recorded():
    health = Breakers(closed={"b"})
    attempts = []
    a, b = Scripted("a", []), Scripted("b", ["ok"])
    run_chain(SERVICE, {}, None, {"a": a, "b": b}, attempts.append, health=health)
    assert [(x.backend, x.outcome, x.error_class) for x in attempts] == \
        [("a", "skipped", "CircuitOpen"), ("b", "ok", None)]
    assert a.calls == 0 and health.successes == ["b"]


class ReadOnce(Breakers):
    """Breakers that say which answers came from the walk's opening read of the chain."""

    def __init__(self, closed):
        super().__init__(closed)
        self.asked = []

    def states(self, backends):
        return {backend: f"read {backend}" for backend in backends}

    def allow(self, backend, read=None):
        self.asked.append((backend, read))
        return backend in self.closed


def test_the_opening_read_decides_until_a_call_has_taken_time():
    skipped = ReadOnce(closed={"b"})  # a's breaker is open: no call before b
    run_chain(SERVICE, {}, None, {"a": Scripted("a", []), "b": Scripted("b", ["ok"])},
              [].append, health=skipped)
    assert skipped.asked == [("a", "read a"), ("b", "read b")]
    called = ReadOnce(closed={"a", "b"})  # a is called and fails twice: b is read afresh
    run_chain(SERVICE, {}, None,
              {"a": Scripted("a", [RetryableProviderError("503")] * 2),
               "b": Scripted("b", ["ok"])},
              [].append, RetryPolicy(base_delay=0), sleep=lambda s: None, health=called)
    assert called.asked == [("a", "read a"), ("a", None), ("b", None)]


def test_only_retryable_failures_count_against_a_backend():
    health = Breakers(closed={"a", "b"})
    a = Scripted("a", [BackendUnavailable("no key")])
    b = Scripted("b", [RetryableProviderError("503"), "ok"])
    run_chain(SERVICE, {}, None, {"a": a, "b": b}, [].append,
              RetryPolicy(base_delay=0), sleep=lambda s: None, health=health)
    assert health.failures == ["b"]


def test_a_retry_after_longer_than_we_wait_fails_over_at_once():
    a = Scripted("a", [RetryableProviderError("429", retry_after=60)])
    result, _, attempts, sleeps = _run(a, Scripted("b", ["ok"]))
    assert result.output == {"by": "b"} and sleeps == [] and a.calls == 1
