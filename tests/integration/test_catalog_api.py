"""GET /catalog, /catalog/estimate and /health as clients read them."""
from decimal import Decimal

from app.catalog import load_catalog
from billing.money import parse_usd
from tests.helpers import auth, counts, data, grant, register
from tests.integration.conftest import wait_for


def test_catalog_lists_every_service_with_prices_and_availability(client, db_session):
    body = data(client.get("/catalog"))
    services = {s["key"]: s for s in body["services"]}
    assert set(services) == set(load_catalog().services) and len(services) == 30
    assert body["active_endpoints"] == sum(s["available"] for s in services.values())
    embed = services["embedding-l4"]
    assert embed["pricing"]["per_output_usd"] == "0.01"
    assert embed["default_cost_usd"] == Decimal("0.01")
    assert embed["backends"][0]["backend"] == "local"
    llm = services["llm-4090"]
    assert not llm["available"]  # no provider key is configured in tests
    assert all("_API_KEY" in b["reason"] for b in llm["backends"])


def test_estimate_prices_seconds_for_per_second_services(client, db_session):
    service = load_catalog().get("upscale-l4")
    body = data(client.get("/catalog/estimate?service=upscale-l4&seconds=30"))
    per_second = parse_usd(str(body["price_per_second"]))
    assert per_second == service.pricing.per_second
    expected = max(service.pricing.minimum, per_second * 30)
    assert parse_usd(str(body["estimated_cost_usd"])) == expected
    assert body["service"] == "upscale-l4" and body["estimated_seconds"] == 30 and body["note"]
    default = data(client.get("/catalog/estimate?service=upscale-l4"))
    assert default["estimated_seconds"] == service.estimated_millis / 1000


def test_estimate_refuses_unknown_services_and_bad_seconds(client, db_session):
    assert client.get("/catalog/estimate?service=nope").get_json()["code"] == "unknown_service"
    for bad in ("-1", "abc", "0", "nan", "1e9"):
        response = client.get(f"/catalog/estimate?service=ocr&seconds={bad}")
        assert response.status_code == 400 and response.get_json()["field"] == "seconds"


def test_a_service_with_no_available_backend_is_503_and_holds_nothing(app, client, db_session):
    key = register(client, "llm@example.com")
    grant(app, "llm@example.com", "1")
    before = counts(db_session)
    response = client.post("/run", json={"service": "llm-4090", "input": {"prompt": "hi"}},
                           headers=auth(key))
    assert response.status_code == 503 and response.get_json()["code"] == "no_backend"
    assert counts(db_session) == before


def _text_workers(client):
    body = client.get("/health").get_json()
    return body if body["queues"]["text"]["workers"] else None


def test_health_reports_database_redis_and_queue_workers(client, db_session, worker):
    body = wait_for(lambda: _text_workers(client), timeout=30)  # a broadcast may miss a reply
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert set(body["queues"]) == {"text", "image", "audio", "video", "billing", "webhooks"}
    assert all(isinstance(q["depth"], int) for q in body["queues"].values())
    assert any(name.startswith("main@") for name in body["queues"]["text"]["workers"])


def test_health_says_which_backends_can_run_which_tasks(client, db_session, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None)  # no tesseract, no espeak-ng
    body = client.get("/health").get_json()
    assert "tesseract" in body["backends"]["local"]["ocr"]
    assert "espeak-ng" in body["backends"]["local"]["tts"]
    assert body["backends"]["groq"]["chat"] == "not configured: set GROQ_API_KEY"
    ocr = next(s for s in client.get("/catalog").get_json()["services"] if s["key"] == "ocr")
    assert ocr["backends"][0] == {"backend": "local", "available": False,
                                  "reason": body["backends"]["local"]["ocr"]}
