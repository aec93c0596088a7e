"""Verifying our webhooks, signed the Standard Webhooks way (webhook-id, webhook-timestamp,
webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", secret "whsec_<base64>")."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Mapping

TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The delivery is not signed by the secret, or its timestamp is too old or too new."""


def _key(secret: str) -> bytes:
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    return base64.b64decode(raw)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The webhook-signature value for a delivery (one v1 signature)."""
    payload = body.decode() if isinstance(body, bytes) else body
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.{payload}".encode(),
                      hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    if name not in lowered:
        raise WebhookVerificationError(f"missing header {name}")
    return lowered[name]


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str,
                   tolerance: int = TOLERANCE_SECONDS, now: float | None = None):
    """Check a delivery's signature and timestamp; return its parsed JSON body."""
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in _header(headers, "webhook-signature").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(body)
    raise WebhookVerificationError("no signature matches the secret")
