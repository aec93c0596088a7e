"""Parsing the lifecycle headers of POST /run: Cancel-After and Prefer: wait."""
from datetime import datetime, timedelta, timezone

import pytest

from app.errors import ApiError
from app.lifecycle import parse_cancel_after, parse_prefer_wait

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("0", NOW), ("300", NOW + timedelta(seconds=300)),
    ("Thu, 26 Nov 2026 01:00:00 GMT", NOW + timedelta(hours=1)),
    ("Wed, 25 Nov 2026 23:00:00 GMT", NOW - timedelta(hours=1)),  # past: aborted when seen
])
def test_cancel_after_takes_seconds_or_an_http_date(value, expected):
    assert parse_cancel_after(value, NOW) == expected


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "2026-11-26", "Thu, 26 Nov 2026 01:00"])
def test_cancel_after_refuses_anything_else(value):
    with pytest.raises(ApiError) as caught:
        parse_cancel_after(value, NOW)
    assert caught.value.status == 400 and caught.value.code == "invalid_cancel_after"


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("wait=10", 10), ("respond-async, wait=5", 5),
    ("WAIT=3", 3), ("wait=600", 60), ("wait=abc", None), ("return=minimal", None),
])
def test_prefer_wait(value, expected):
    assert parse_prefer_wait(value) == expected
