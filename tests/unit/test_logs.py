"""The JSON log line: its secrets scrubbed whatever their case, its time in UTC to the ms."""
import json
import logging

import pytest

from app.logs import JsonFormatter, scrub


@pytest.mark.parametrize("secret, kept", [
    ("gpub_AbC-123_x", "gpub_[redacted]"),
    ("whsec_MfKQ9r8G+/=", "whsec_[redacted]"),
    ("sk_live_51Hx", "sk_live_[redacted]"),
    ("rk_test_9z", "rk_test_[redacted]"),
    ("Authorization: BEARER tok.en-1", "Authorization: BEARER [redacted]"),
    ("bearer abc", "bearer [redacted]"),
    ("X-PAYMENT: eyJ0eA==", "X-PAYMENT: [redacted]"),
    ("{'x-payment': 'eyJ0'}", "{'x-payment': '[redacted]'}"),
])
def test_every_kind_of_secret_is_scrubbed_in_any_case(secret, kept):
    assert scrub(f"before {secret} after") == f"before {kept} after"


def test_a_line_without_secrets_is_left_as_it_is():
    line = "POST /run 202 for a gpub key, live; test_x (bearer: none)"
    assert scrub(line) == line


def test_a_line_carries_its_utc_time_to_the_millisecond():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.created, record.msecs = 1_795_000_000.25, 250.0  # 2026-11-18 11:06:40.250 UTC
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2026-11-18T11:06:40.250Z" and line["message"] == "hello you"
    record.created, record.msecs = 1_795_000_001.5, 500.0  # the next second: not the last one's
    assert json.loads(JsonFormatter().format(record))["ts"] == "2026-11-18T11:06:41.500Z"
