"""The SDK's webhook check against the Standard Webhooks reference package."""
import base64
import json
import time

import pytest
from standardwebhooks import Webhook

from gpubridge import WebhookVerificationError, verify_webhook
from gpubridge.webhooks import sign

SECRET = "whsec_" + base64.b64encode(b"a" * 32).decode()
BODY = json.dumps({"type": "job.completed", "data": {"job_id": "j1"}})


def _headers(signature: str, stamp: int, msg_id: str = "msg_1") -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": signature}


def test_accepts_a_signature_made_by_the_reference_package():
    now = int(time.time())
    from datetime import datetime, timezone
    signature = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(now, timezone.utc), BODY)
    assert verify_webhook(BODY, _headers(signature, now), SECRET) == json.loads(BODY)


def test_reference_package_accepts_our_signature():
    now = int(time.time())
    headers = _headers(sign(SECRET, "msg_2", now, BODY), now, "msg_2")
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_any_of_several_signatures_may_match_during_rotation():
    now = int(time.time())
    old = sign("whsec_" + base64.b64encode(b"b" * 32).decode(), "msg_1", now, BODY)
    both = f"{old} {sign(SECRET, 'msg_1', now, BODY)}"
    assert verify_webhook(BODY, _headers(both, now), SECRET)["type"] == "job.completed"


@pytest.mark.parametrize("change", ["body", "secret", "old", "future", "missing"])
def test_refuses_tampering_and_stale_deliveries(change):
    now = int(time.time())
    stamp = {"old": now - 600, "future": now + 600}.get(change, now)
    headers = _headers(sign(SECRET, "msg_1", stamp, BODY), stamp)
    body, secret = BODY, SECRET
    if change == "body":
        body = BODY.replace("j1", "j2")
    if change == "secret":
        secret = "whsec_" + base64.b64encode(b"c" * 32).decode()
    if change == "missing":
        del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret)
