"""Requests that answered 500 before (found while fuzzing the OpenAPI document): each now gets
its documented 4xx, or is served."""
from __future__ import annotations

import base64

import pytest

from billing.money import MoneyError, parse_usd
from tests.helpers import auth, register

NOT_A_UUID = base64.urlsafe_b64encode(b"2024-01-01T00:00:00|not-a-uuid").decode()
CASES = [
    ("get", "/account/jobs?limit=%C2%B2", None, 400),  # "²".isdigit() is True; int() refuses it
    ("get", "/account/webhooks/deliveries?limit=%C2%B2", None, 400),
    ("get", "/account/webhooks/deliveries?before=%C2%B2", None, 200),
    ("get", "/account/webhooks/deliveries?before=99999999999999999999999", None, 200),
    ("post", "/account/webhooks/deliveries/99999999999999999999999/replay", None, 409),
    ("get", f"/account/jobs?cursor={NOT_A_UUID}", None, 400),
    ("get", "/files/ab%00cd", None, 400),  # PostgreSQL text cannot hold NUL
    ("get", "/account/webhooks/deliveries?job_id=%00", None, 400),
    ("post", "/account/recover", {"email": "a@example.com", "message": "x\x00y"}, 400),
    ("put", "/account/alerts", {"webhook_url": "https://exa\x00mple.com/x"}, 400),
    ("post", "/run", {"service": "llm-4090", "input": {"prompt": "a\x00b"}}, 400),  # nor jsonb
    ("post", "/account/spending-limit", {"daily_limit_usd": "1e999999"}, 400),  # Decimal overflow
    ("post", "/account/spending-limit", {"daily_limit_usd": 1e308}, 400),  # past BIGINT
    ("post", "/account/topup-crypto", {"package": ["x"]}, 400),  # unhashable
]


@pytest.mark.parametrize("method, url, body, status", CASES)
def test_refused_not_crashed(client, method, url, body, status):
    key = register(client, "fuzzed@example.com")
    kwargs = {"headers": auth(key), **({"json": body} if body is not None else {})}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.get_json()
    if status == 400:
        assert response.get_json()["code"] in {"invalid_limit", "invalid_cursor", "invalid_input",
                                               "invalid_field", "unknown_package"}


@pytest.mark.parametrize("value", ["1e999999", "9223372036854.775808", "-1e400"])
def test_parse_usd_refuses_amounts_past_bigint(value):
    with pytest.raises(MoneyError):
        parse_usd(value)
