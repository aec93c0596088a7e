"""Without a key or a payment, POST /run answers 402 with an x402 v1 body."""
from unittest.mock import patch

from billing.money import parse_usd
from tests.helpers import auth, counts, data, grant, register

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}
# A differently priced service (per second of compute) that runs locally.
UPSCALE = {"service": "upscale-l4", "input": {"image_url": "data:image/png;base64,AAAA"}}
# x402 v1's PaymentRequirements: every field a client may read.
REQUIREMENT_FIELDS = {"scheme", "network", "maxAmountRequired", "resource", "description",
                      "mimeType", "payTo", "maxTimeoutSeconds", "asset", "extra"}


def _estimate(app, client, body) -> int:
    """The estimate the API-key path holds for the same request. Its job is not sent: a
    worker would otherwise run it while the test's teardown empties the tables."""
    key = register(client, "est@example.com")
    grant(app, "est@example.com", "5")
    with patch("app.jobs.send_job"):
        response = client.post("/run", json=body, headers=auth(key))
    return parse_usd(data(response)["estimated_cost_usd"])


def test_402_body_follows_x402_v1_and_asks_for_the_estimate(paid_app, paid_client, chain,
                                                              db_session):
    before = counts(db_session)
    response = paid_client.post("/run", json=EMBED)
    assert response.status_code == 402
    assert response.headers["X-Payment-Version"] == "1"
    body = response.get_json()
    assert body["x402Version"] == 1 and isinstance(body["error"], str) and body["error"]
    assert body["code"] == "payment_required"  # also the shared error shape
    assert len(body["accepts"]) == 1
    offer = body["accepts"][0]
    assert set(offer) == REQUIREMENT_FIELDS
    assert offer["scheme"] == "exact" and offer["network"] == "base-sepolia"
    assert offer["payTo"] == chain.pay_to and offer["asset"] == chain.usdc.address
    assert offer["resource"].endswith("/run") and offer["mimeType"] == "application/json"
    assert offer["maxTimeoutSeconds"] == 300
    assert offer["extra"] == {"name": "USD Coin", "version": "2"}
    assert isinstance(offer["maxAmountRequired"], str)
    assert counts(db_session) == before  # asking costs nothing
    assert int(offer["maxAmountRequired"]) == _estimate(paid_app, paid_client, EMBED)


def test_402_amount_follows_the_request(paid_app, paid_client, db_session):
    offer = paid_client.post("/run", json=UPSCALE).get_json()["accepts"][0]
    assert offer["maxAmountRequired"] != "10000"  # not embedding-l4's flat $0.01
    assert int(offer["maxAmountRequired"]) == _estimate(paid_app, paid_client, UPSCALE)


def test_official_client_parses_the_402(paid_client, db_session):
    from x402.schemas.v1 import PaymentRequiredV1

    parsed = PaymentRequiredV1.model_validate(paid_client.post("/run", json=EMBED).get_json())
    assert parsed.x402_version == 1 and parsed.accepts[0].scheme == "exact"


def test_bad_input_is_400_before_any_402(paid_client, db_session):
    response = paid_client.post("/run", json={"service": "no-such", "input": {}})
    assert response.status_code == 400 and response.get_json()["code"] == "unknown_service"
    response = paid_client.post("/run", json={"service": "embedding-l4", "input": {}})
    assert response.status_code == 400 and response.get_json()["field"] == "input.text"


def test_health_says_whether_payers_are_screened(paid_app, paid_client, app, client,
                                                 db_session):
    assert paid_client.get("/health").get_json()["x402"]["sanctions_screening"] == "on"
    assert client.get("/health").get_json()["x402"] == {"enabled": False}
    oracle = paid_app.config["X402_SANCTIONS_ORACLE"]
    paid_app.config["X402_SANCTIONS_ORACLE"] = None
    try:
        state = paid_client.get("/health").get_json()["x402"]["sanctions_screening"]
        assert state.startswith("off: development")
    finally:
        paid_app.config["X402_SANCTIONS_ORACLE"] = oracle
