"""Property tests: for any usage, capture + refund == hold, capture <= hold, all integers."""
from hypothesis import given
from hypothesis import strategies as st

from app.catalog import load_catalog
from billing.accounts import split
from billing.pricing import actual_cost, estimate

SERVICES = sorted(load_catalog().services.values(), key=lambda s: s.key)

usages = st.fixed_dictionaries({
    "input_tokens": st.integers(0, 10**9),
    "output_tokens": st.integers(0, 10**9),
    "compute_seconds": st.floats(0, 10**6, allow_nan=False),
    "outputs": st.integers(0, 100),
})


@given(st.sampled_from(SERVICES), usages, st.data())
def test_settlement_never_exceeds_the_hold_and_sums_exactly(service, usage, draw):
    model = draw.draw(st.sampled_from(service.models or (None,)))
    hold = estimate(service, {}, model)
    cost = actual_cost(service, model, usage)
    assert isinstance(hold, int) and isinstance(cost, int) and cost >= 0
    result = split(hold, cost)
    assert result.captured + result.refunded == hold
    assert 0 <= result.captured <= hold and result.refunded >= 0
    assert result.captured == min(cost, hold)


@given(st.sampled_from(SERVICES), st.integers(0, 10**6), st.data())
def test_estimates_are_non_negative_integers_that_grow_with_max_tokens(service, extra, draw):
    model = draw.draw(st.sampled_from(service.models or (None,)))
    small = estimate(service, {"max_tokens": 1}, model)
    large = estimate(service, {"max_tokens": 1 + extra}, model)
    assert isinstance(small, int) and 0 <= small <= large
