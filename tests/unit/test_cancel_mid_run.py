"""A job cancelled mid-run: the router stops at once, and the price is what the run used."""
import pytest

from billing.pricing import cancelled_cost
from providers.base import CallCancelled, Usage
from providers.router import RetryPolicy, run_chain
from tests.unit.test_pricing import CATALOG as PRICED
from tests.unit.test_router import SERVICE, Scripted


def test_a_cancelled_call_is_recorded_and_neither_retried_nor_failed_over():
    a = Scripted("a", [CallCancelled("a: canceled", Usage(compute_seconds=3.0)), "ok"])
    b = Scripted("b", ["ok"])
    attempts, asked = [], []
    with pytest.raises(CallCancelled) as cancelled:
        run_chain(SERVICE, {}, None, {"a": a, "b": b}, attempts.append,
                  RetryPolicy(attempts_per_backend=3, base_delay=0), sleep=lambda s: None,
                  should_stop=lambda: asked.append(1) or True)
    assert cancelled.value.usage.compute_seconds == 3.0
    assert [(x.backend, x.outcome, x.error_class) for x in attempts] == \
        [("a", "cancelled", "CallCancelled")]
    assert (a.calls, b.calls) == (1, 0)


def test_the_adapter_gets_the_stop_check():
    seen = []

    class Probe(Scripted):
        def run(self, call):
            seen.append(call.should_stop)
            return super().run(call)

    def stop():
        return False
    run_chain(SERVICE, {}, None, {"a": Probe("a", ["ok"]), "b": Scripted("b", [])},
              lambda attempt: None, should_stop=stop)
    assert seen == [stop]


def test_per_second_services_charge_the_seconds_used_or_their_minimum():
    sec = PRICED.get("sec")  # $0.0024 per second, minimum $0.01
    assert cancelled_cost(sec, None, {"compute_seconds": 7.5}) == 18_000
    assert cancelled_cost(sec, None, {"compute_seconds": 1.0}) == 10_000


def test_flat_services_charge_the_share_of_their_typical_run_up_to_the_full_price():
    img = PRICED.get("img")  # one output of "slow" is $0.025; a typical run is 10 s
    assert cancelled_cost(img, "slow", {"compute_seconds": 2.5}) == 6_250
    assert cancelled_cost(img, "slow", {"compute_seconds": 0.0001}) == 3  # rounded up
    assert cancelled_cost(img, "slow", {"compute_seconds": 60}) == 25_000
