"""OpenAPI rows of the account, payment, lifecycle, webhook and page endpoints (rows as in
openapi.OPERATIONS), and the request bodies those endpoints parse by hand."""
from __future__ import annotations

from billing.topups import PACKAGES

AUTH, OPEN = True, False
# Amounts are exact: a JSON number or a decimal string ("12.50").
USD = {"oneOf": [{"type": "number"}, {"type": "string"}]}
PAGES = ("/", "/catalog/browse", "/account/dashboard", "/status", "/docs")
OPERATIONS = {
    "/account/regenerate-key": {"post": ("Revoke the account's keys and issue a new one", None,
                                         "NewKey", 200, (), AUTH, "account")},
    "/account/recover": {"post": ("Ask support to recover an account (never tells whether the "
                                  "email exists)", "RegisterRequest", "Recovery", 202, (400,),
                                  OPEN, "account")},
    "/account/spending-limit": {"post": ("Set the daily spending limit", "SpendingLimitRequest",
                                         "SpendingLimit", 200, (400,), AUTH, "account")},
    "/account/topup": {"post": ("A Stripe Checkout for a card top-up", "TopupRequest",
                                "Checkout", 200, (400, 502, 503), AUTH, "billing")},
    "/account/auto-topup": {"post": ("Configure automatic card top-ups", "AutoTopupRequest",
                                     "AutoTopup", 200, (400,), AUTH, "billing")},
    "/account/topup-crypto": {"post": ("Open a USDC deposit for a top-up package",
                                       "CryptoTopupRequest", "CryptoDeposit", 201, (400, 503),
                                       AUTH, "billing")},
    "/webhooks/stripe": {"post": ("Stripe's payment events (signed with Stripe-Signature)",
                                  "StripeEvent", "StripeReceived", 200, (400, 503), OPEN,
                                  "billing")},
    "/cancel/{job_id}": {"post": ("Cancel a job: 200 once cancelled (refunded), 202 while a "
                                  "running job is stopped", None, "JobStatus", (200, 202),
                                  (404,), AUTH, "jobs")},
    "/status/{job_id}/stream": {"get": ("A job's status object at each change (server-sent "
                                        "events)", None, "text/event-stream", 200, (404,), OPEN,
                                        "jobs")},
    "/files/{token}": {"get": ("A file a job produced", None, "*/*", 200, (404,), OPEN, "jobs")},
    "/account/alerts": {"put": ("Where budget alerts go and the balance that triggers one",
                                "AlertsRequest", "Alerts", 200, (400,), AUTH, "webhooks")},
    "/account/webhook-secret": {"get": ("The account's webhook signing secret", None,
                                        "WebhookSecret", 200, (), AUTH, "webhooks")},
    "/account/webhook-secret/rotate": {"post": ("A new signing secret; the old one stays valid "
                                                "for a grace period", None, "WebhookSecret",
                                                200, (), AUTH, "webhooks")},
    "/account/webhooks/deliveries": {"get": ("Webhook deliveries and their attempts, newest "
                                             "first", None, "DeliveryPage", 200, (400,), AUTH,
                                             "webhooks")},
    "/account/webhooks/deliveries/{delivery_id}/replay": {"post": (
        "Send a finished delivery again", None, "Replay", 202, (404, 409), AUTH, "webhooks")},
    "/openapi.json": {"get": ("The OpenAPI 3 document of this API", None, "Document", 200, (),
                              OPEN, "discovery")},
    "/.well-known/ai-plugin.json": {"get": ("The AI plugin manifest", None, "Document", 200,
                                            (), OPEN, "discovery")},
    "/llms.txt": {"get": ("What the API is and every service, for language models", None,
                          "text/plain", 200, (), OPEN, "discovery")},
    "/robots.txt": {"get": ("Crawler rules", None, "text/plain", 200, (), OPEN, "discovery")},
    "/metrics": {"get": ("Prometheus metrics", None, "text/plain", 200, (), OPEN,
                         "operations")},
    **{path: {"get": ("A page", None, "text/html", 200, (), OPEN, "pages")} for path in PAGES},
}
RESPONSE_SCHEMAS = ("NewKey", "Recovery", "SpendingLimit", "Checkout", "AutoTopup",
                    "CryptoDeposit", "StripeReceived", "Alerts", "WebhookSecret", "DeliveryPage",
                    "Replay")
QUERY = {
    "/account/webhooks/deliveries": [("job_id", "string", "only this job's deliveries"),
                                     ("before", "integer", "a delivery id: older ones only"),
                                     ("limit", "integer", "1 to 100, default 20")],
}
REQUESTS = {
    "SpendingLimitRequest": {"type": "object", "required": ["daily_limit_usd"],
                             "properties": {"daily_limit_usd": USD}},
    "TopupRequest": {"type": "object", "description": "a package, or amount_usd (10 to 10000)",
                     "properties": {"package": {"type": "string", "enum": sorted(PACKAGES)},
                                    "amount_usd": USD}},
    "AutoTopupRequest": {"type": "object", "properties": {
        "enabled": {"type": "boolean"}, "threshold": USD, "amount": USD}},
    "CryptoTopupRequest": {"type": "object", "required": ["package"], "properties": {
        "package": {"type": "string", "enum": sorted(PACKAGES)}}},
    "StripeEvent": {"type": "object", "description": "an event as Stripe sends it"},
    "AlertsRequest": {"type": "object", "required": ["webhook_url"],
                      "additionalProperties": False, "properties": {
                          "webhook_url": {"type": "string", "nullable": True,
                                          "maxLength": 2048},
                          "balance_below_usd": {"type": "string", "nullable": True}}},
    "Document": {"type": "object"},
}


TEXTS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
# OpenAI's message content: a string, or parts of which the text ones are read.
CONTENT = {"nullable": True, "oneOf": [{"type": "string"}, {"type": "array", "items": {
    "type": "object", "required": ["type"], "properties": {
        "type": {"type": "string"}, "text": {"type": "string"}}}}]}


def refine(document: dict, catalog) -> None:
    """What the marshmallow schemas cannot say: values only the catalog knows (the estimate's
    service, the /v1 model names) and the shapes the /v1 endpoints check by hand."""
    for param in document["paths"]["/catalog/estimate"]["get"]["parameters"]:
        if param["name"] == "service":
            param["schema"]["enum"] = sorted(catalog.services)
    schemas = document["components"]["schemas"]
    for name, key in (("ChatCompletionRequest", "llm-4090"), ("EmbeddingRequest", "embedding-l4")):
        if name in schemas and catalog.get(key):  # the service's key names its default model
            schemas[name]["properties"]["model"]["enum"] = [key, *catalog.get(key).models]
    if "ChatCompletionRequest" in schemas:
        message = schemas["ChatCompletionRequest"]["properties"]["messages"]["items"]
        message["properties"]["content"] = CONTENT
        schemas["EmbeddingRequest"]["properties"]["input"] = TEXTS
