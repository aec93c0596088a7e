"""Standard Webhooks signatures (checked with the `standardwebhooks` package) and retry rules."""
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.webhook_signing import new_secret, sign, signature_header
from app.webhooks import Outcome, decide, envelope

SCHEDULE = (0.0, 5.0, 300.0, 1800.0)


def _headers(secrets, body: bytes, message_id="msg_1", stamp=None):
    stamp = stamp or int(time.time())
    return {"webhook-id": message_id, "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(secrets, message_id, stamp, body)}


def test_secret_has_the_whsec_form_and_the_package_verifies_our_signature():
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = envelope("job.completed", {"job_id": "j1", "status": "completed"}).encode()
    parsed = Webhook(secret).verify(body, _headers([secret], body))
    assert parsed["type"] == "job.completed" and parsed["data"]["job_id"] == "j1"
    assert set(parsed) == {"type", "timestamp", "data"}


def test_a_wrong_secret_a_changed_body_or_an_old_timestamp_fail():
    secret, other = new_secret(), new_secret()
    body = b'{"type":"job.failed"}'
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, _headers([secret], body))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", _headers([secret], body))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, _headers([secret], body, stamp=int(time.time()) - 3600))


def test_during_a_rotation_both_old_and_new_secrets_verify():
    old, new = new_secret(), new_secret()
    body = b'{"type":"job.completed"}'
    headers = _headers([new, old], body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_signature_is_hmac_of_id_timestamp_and_body():
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    # The example of the Standard Webhooks reference libraries' tests.
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("code, attempts, retry_after, expected", [
    (200, 1, None, Outcome("delivered")),
    (204, 3, None, Outcome("delivered")),
    (410, 1, None, Outcome("gone")),          # Gone stops the retries
    (500, 1, None, Outcome("pending", 5.0)),  # the schedule's next wait
    (None, 2, None, Outcome("pending", 300.0)),  # no answer (timeout, refused): retried
    (429, 1, 60.0, Outcome("pending", 60.0)),  # Retry-After longer than the schedule wins
    (503, 2, 5.0, Outcome("pending", 300.0)),  # ... but never shortens it
    (503, 1, 99999.0, Outcome("pending", 1800.0)),  # ... and is capped by the longest wait
    (500, 4, None, Outcome("failed")),        # bounded: the schedule ran out
    (302, 1, None, Outcome("pending", 5.0)),  # a redirect is not followed, just a failure
])
def test_decide(code, attempts, retry_after, expected):
    assert decide(code, attempts, retry_after, SCHEDULE) == expected
