"""Prices are exact integers of micro-USD; a job never costs more than its hold."""
import pytest

from app.catalog import parse_catalog
from billing.money import duration_millis
from billing.pricing import actual_cost, estimate, estimate_for_duration

CATALOG = parse_catalog({
    "backends": {"l": {"adapter": "local"}},
    "services": {
        "llm": {"name": "L", "family": "text", "models": ["m"],
                "pricing": {"kind": "per_token", "usd": "0.003",
                            "per_mtok": {"m": {"input": "0.59", "output": "0.79"}}},
                "input": {"prompt": {"type": "string"},
                          "max_tokens": {"type": "integer", "default": 512}},
                "backends": [{"backend": "l", "task": "embed"}]},
        "img": {"name": "I", "family": "image", "models": ["fast", "slow"],
                "pricing": {"kind": "flat", "usd": "0.01", "outputs_field": "num_outputs",
                            "by_model": {"fast": "0.003", "slow": "0.025"}},
                "input": {}, "backends": [{"backend": "l", "task": "upscale"}]},
        "sec": {"name": "S", "family": "audio", "estimated_seconds": 5,
                "pricing": {"kind": "per_second", "usd_per_second": "0.0024",
                            "minimum_usd": "0.01"},
                "input": {}, "backends": [{"backend": "l", "task": "tts"}]},
    }})


def test_per_token_estimate_covers_prompt_and_max_tokens_with_a_minimum():
    llm = CATALOG.get("llm")
    # 4000 chars ~ 1000 input tokens at $0.59/M + 2000 output tokens at $0.79/M
    assert estimate(llm, {"prompt": "x" * 4_000_000, "max_tokens": 2000}, "m") == 590_000 + 1580
    assert estimate(llm, {"prompt": "hi"}, "m") == 3000  # the $0.003 minimum
    assert actual_cost(llm, "m", {"input_tokens": 1_000_000, "output_tokens": 1_000_000}) \
        == 590_000 + 790_000
    assert actual_cost(llm, "m", {"input_tokens": 1, "output_tokens": 1}) == 3000


def test_flat_price_per_model_times_outputs():
    img = CATALOG.get("img")
    assert estimate(img, {"num_outputs": 3}, "fast") == 9000
    assert estimate(img, {}, "slow") == 25_000
    assert estimate(img, {}, "unknown") == 10_000
    assert actual_cost(img, "fast", {"outputs": 2}) == 6000


def test_per_second_rounds_up_to_the_millisecond_with_a_minimum():
    sec = CATALOG.get("sec")
    assert estimate(sec, {}) == 12_000  # 5 s * $0.0024
    assert estimate_for_duration(sec, 30_000) == 72_000
    assert actual_cost(sec, None, {"compute_seconds": 0.5}) == 10_000  # minimum
    # 10.0001 s bills as 10.001 s: 24002.4 micro-USD, and the fraction rounds up
    assert actual_cost(sec, None, {"compute_seconds": 10.0001}) == 24_003


def test_durations_become_whole_milliseconds_rounded_up_without_float_arithmetic():
    assert duration_millis(10.0001) == 10_001
    assert duration_millis("0.0004") == 1
    assert duration_millis(0) == 0 and duration_millis(30) == 30_000
    assert duration_millis(0.1) == 100  # 0.1 is not 0.1000000000000000055... here
    for bad in (-1, "nan", "abc", float("inf")):
        with pytest.raises(ValueError):
            duration_millis(bad)
