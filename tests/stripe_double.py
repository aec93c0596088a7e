"""A local HTTP double of the few Stripe API endpoints we call, and Stripe's webhook signing.

It speaks Stripe's wire format (form-encoded requests with bracketed keys, JSON objects, the
error envelope, the Idempotency-Key header) so the real `stripe` library talks to it unchanged.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_double"
WEBHOOK_SECRET = "whsec_test_double"


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends: t=<unix>,v1=HMAC-SHA256(secret, "t.payload")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def nest(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (a[b][0][c]=v) back into nested dicts (lists stay index-keyed)."""
    out: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class StripeDouble:
    """The server and what it was asked; `decline` makes off-session charges fail."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []
        self.intents: dict[str, dict] = {}
        self.by_idempotency_key: dict[str, dict] = {}
        self.decline = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> "StripeDouble":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    def payment_intents_created(self) -> list[dict]:
        return [params for method, path, params in self.calls
                if method == "POST" and path == "/v1/payment_intents"]

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", double.new_id("req"))
                self.end_headers()
                self.wfile.write(raw)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {SECRET_KEY}":
                    return True
                self._answer(401, {"error": {"type": "invalid_request_error",
                                             "message": "Invalid API Key provided"}})
                return False

            def do_GET(self):
                if not self._authorised():
                    return
                double.calls.append(("GET", self.path, {}))
                if self.path.startswith("/v1/payment_intents/"):
                    intent = double.intents.get(self.path.rsplit("/", 1)[-1])
                    if intent:
                        return self._answer(200, intent)
                self._answer(404, {"error": {"type": "invalid_request_error",
                                             "message": "No such object", "code": "resource_missing"}})

            def do_POST(self):
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                params = nest(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                with double._lock:
                    double.calls.append(("POST", self.path, params))
                    key = self.headers.get("Idempotency-Key")
                    if self.path == "/v1/payment_intents" and key in double.by_idempotency_key:
                        return self._answer(200, double.by_idempotency_key[key])
                    status, body = double.route(self.path, params)
                    if self.path == "/v1/payment_intents" and key and status == 200:
                        double.by_idempotency_key[key] = body
                self._answer(status, body)

        return Handler

    def route(self, path: str, params: dict) -> tuple[int, dict]:
        if path == "/v1/checkout/sessions":
            return 200, self.checkout_session(params)
        if path == "/v1/payment_intents":
            return self.payment_intent(params)
        return 404, {"error": {"type": "invalid_request_error", "message": f"no route {path}"}}

    def checkout_session(self, params: dict) -> dict:
        session_id = self.new_id("cs")
        item = params["line_items"]["0"]
        amount = int(item["price_data"]["unit_amount"]) * int(item["quantity"])
        intent = self.new_id("pi")
        self.intents[intent] = {"id": intent, "object": "payment_intent", "amount": amount,
                                "amount_received": amount, "currency": "usd",
                                "status": "succeeded", "payment_method": self.new_id("pm")}
        return {"id": session_id, "object": "checkout.session", "mode": "payment",
                "url": f"{self.url}/c/pay/{session_id}", "amount_total": amount,
                "currency": "usd", "payment_status": "unpaid", "status": "open",
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}), "customer": params.get("customer"),
                "payment_intent": intent}

    def payment_intent(self, params: dict) -> tuple[int, dict]:
        intent_id = self.new_id("pi")
        if self.decline:
            return 402, {"error": {"type": "card_error", "code": "card_declined",
                                   "decline_code": "generic_decline",
                                   "message": "Your card was declined.",
                                   "payment_intent": {"id": intent_id,
                                                      "object": "payment_intent"}}}
        amount = int(params["amount"])
        intent = {"id": intent_id, "object": "payment_intent", "amount": amount,
                  "amount_received": amount, "currency": params["currency"],
                  "customer": params.get("customer"),
                  "payment_method": params.get("payment_method"), "status": "succeeded"}
        self.intents[intent_id] = intent
        return 200, intent


def completed_event(session: dict, event_id: str, customer: str = "cus_test_1") -> str:
    """The JSON of a checkout.session.completed event for a session the double created."""
    paid = {**session, "payment_status": "paid", "status": "complete", "customer": customer}
    return json.dumps({"id": event_id, "object": "event", "type": "checkout.session.completed",
                       "api_version": "2024-06-20", "created": int(time.time()),
                       "data": {"object": paid}, "livemode": False})
