from decimal import Decimal

import pytest

from billing.money import MoneyError, ceil_div, format_usd, parse_usd, usd


@pytest.mark.parametrize("text, micros", [("0.003", 3000), ("10", 10_000_000),
                                          ("0.000001", 1), (" 1.5 ", 1_500_000), ("0", 0)])
def test_parse_usd(text, micros):
    assert parse_usd(text) == micros


@pytest.mark.parametrize("bad", [0.01, "0.0000001", "abc", "NaN", "Infinity", True])
def test_parse_usd_refuses_floats_and_sub_micro_amounts(bad):
    with pytest.raises(MoneyError):
        parse_usd(bad)


@pytest.mark.parametrize("micros, text", [(3000, "0.003"), (10_000_000, "10"), (1, "0.000001"),
                                          (0, "0"), (123_456_789, "123.456789")])
def test_format_round_trips(micros, text):
    assert format_usd(micros) == text
    assert parse_usd(format_usd(micros)) == micros
    assert usd(micros) == Decimal(text)


def test_ceil_div_charges_a_fraction_as_a_whole_micro():
    assert ceil_div(1, 1_000_000) == 1
    assert ceil_div(2_000_000, 1_000_000) == 2
    assert ceil_div(0, 7) == 0
