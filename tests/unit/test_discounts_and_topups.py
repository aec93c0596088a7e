"""Pure billing rules: discount tiers and rounding, card packages, cents to micro-USD."""
import pytest

from billing import discounts, topups


@pytest.mark.parametrize("lifetime, tier, percent, upcoming", [
    (0, "standard", 0, "bronze"),
    (99_999_999, "standard", 0, "bronze"),
    (100_000_000, "bronze", 5, "silver"),
    (499_999_999, "bronze", 5, "silver"),
    (500_000_000, "silver", 10, "gold"),
    (1_000_000_000, "gold", 15, None),
])
def test_tiers_start_at_100_500_and_1000_dollars(lifetime, tier, percent, upcoming):
    assert (discounts.tier_for(lifetime).name, discounts.tier_for(lifetime).percent) == \
        (tier, percent)
    following = discounts.next_tier(lifetime)
    assert (following.name if following else None) == upcoming


def test_a_discount_rounds_down_in_the_customers_favour():
    assert discounts.apply(6_473, 5) == 6_149  # 6149.35
    assert discounts.apply(3_000, 15) == 2_550
    assert discounts.apply(1, 5) == 0
    assert discounts.apply(12_345, 0) == 12_345
    with pytest.raises(ValueError):
        discounts.apply(100, 101)


def test_a_discounted_cost_never_exceeds_the_discounted_estimate():
    for estimate in range(0, 5_000, 7):
        for cost in range(0, estimate + 1, 13):
            assert discounts.apply(cost, 5) <= discounts.apply(estimate, 5)


def test_packages_and_their_bonuses():
    assert [(p.amount, topups.bonus_for(p.key, p.amount)) for p in topups.PACKAGES.values()] == \
        [(25_000_000, 1_250_000), (50_000_000, 5_000_000), (100_000_000, 15_000_000)]
    assert topups.bonus_for(None, 25_000_000) == 0
    assert topups.package_for(50_000_000).key == "credits_50"
    assert topups.package_for(30_000_000) is None


def test_cents_and_micro_dollars_convert_exactly():
    assert topups.cents_to_micros(1234) == 12_340_000
    assert topups.micros_to_cents(12_340_000) == 1234
    with pytest.raises(topups.TopupError):
        topups.micros_to_cents(12_340_001)
    with pytest.raises(TypeError):
        topups.cents_to_micros(12.34)


@pytest.mark.parametrize("amount, ok", [
    (9_990_000, False), (10_000_000, True), (10_000_000_000, True), (10_000_010_000, False),
    (10_000_001, False),
])
def test_card_amounts_are_10_to_10000_dollars_in_whole_cents(amount, ok):
    if ok:
        assert topups.check_amount(amount) == amount
    else:
        with pytest.raises(topups.TopupError):
            topups.check_amount(amount)
