"""The SDK client's requests and error mapping, on a fake transport (no server)."""
import json
from decimal import Decimal

import pytest
import requests

import gpubridge
from gpubridge import Client


class Recorder(requests.adapters.BaseAdapter):
    """Answers every request with the queued (status, body, headers) and keeps the requests."""

    def __init__(self, *answers):
        super().__init__()
        self.answers = list(answers)
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        status, body, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers.update(headers)
        response.request = request
        return response

    def close(self):
        pass


def _client(*answers):
    transport = Recorder(*answers)
    session = requests.Session()
    session.mount("http://api.test", transport)
    waits = []
    return Client("http://api.test", "gpub_k", session=session, sleep=waits.append), \
        transport, waits


def test_cancel_posts_with_the_key():
    client, transport, _ = _client((200, {"status": "cancelled"}, {}))
    assert client.cancel("j1") == {"status": "cancelled"}
    sent = transport.sent[0]
    assert (sent.method, sent.url) == ("POST", "http://api.test/cancel/j1")
    assert sent.headers["Authorization"] == "Bearer gpub_k"


def test_429_is_retried_after_retry_after_then_typed():
    limited = (429, {"error": "slow", "code": "rate_limited", "hint": "wait"},
               {"Retry-After": "7"})
    client, transport, waits = _client(limited, limited, limited, limited)
    with pytest.raises(gpubridge.RateLimitError) as refused:
        client.balance()
    assert waits == [7.0, 7.0, 7.0] and len(transport.sent) == 4
    assert refused.value.retry_after == 7.0 and refused.value.hint == "wait"


def test_money_is_decimal_and_400_is_not_retried():
    client, transport, _ = _client((200, {"balance": 0.1}, {}),
                                   (400, {"error": "bad", "code": "invalid_field",
                                          "hint": "fix", "field": "input.text"}, {}))
    assert client.balance()["balance"] == Decimal("0.1")
    with pytest.raises(gpubridge.InvalidRequestError) as bad:
        client.submit("embedding-l4", {"text": ""})
    assert bad.value.body["field"] == "input.text" and len(transport.sent) == 2
