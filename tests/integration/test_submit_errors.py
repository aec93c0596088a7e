"""Bad requests get a 4xx in the shared shape and change nothing (no job, no ledger entry)."""
import pytest

from tests.helpers import auth, counts, grant, register

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}


@pytest.fixture
def key(app, client):
    key = register(client)
    grant(app, "ada@example.com", "5")
    return key


def _assert_error(response, status: int, code: str):
    body = response.get_json()
    assert response.status_code == status, body
    assert body["code"] == code
    assert body["error"] and "hint" in body
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.mark.parametrize("body, status, code, field", [
    ({"service": "no-such", "input": {}}, 400, "unknown_service", None),
    ({"input": {"text": "x"}}, 400, "missing_field", "service"),
    ({"service": "embedding-l4", "input": {}}, 400, "missing_field", "input.text"),
    ({"service": "embedding-l4", "input": {"text": 5}}, 400, "invalid_field", "input.text"),
    ({"service": "embedding-l4", "input": {"text": "x", "colour": 1}}, 400, "unknown_field",
     "input.colour"),
    ({"service": "embedding-l4", "input": {"text": ["ok", ""]}}, 400, "invalid_field",
     "input.text"),
    ({"service": "upscale-l4", "input": {"image_url": "ftp://x/y.png"}}, 400, "invalid_field",
     "input.image_url"),
    ({"service": "upscale-l4", "input": {"image_url": "https://example.com/a.png",
                                         "scale": 3}}, 400, "invalid_field", "input.scale"),
    ({"service": "llm-4090", "input": {"prompt": "hi", "max_tokens": "many"}}, 400,
     "invalid_field", "input.max_tokens"),
])
def test_bad_input_is_refused_and_changes_nothing(client, db_session, key, body, status, code,
                                                  field):
    before = counts(db_session)
    body_out = _assert_error(client.post("/run", json=body, headers=auth(key)), status, code)
    if field:
        assert body_out["field"] == field
    if code == "unknown_service":
        assert "embedding-l4" in body_out["available_services"]
    assert counts(db_session) == before


def test_body_that_is_not_json(client, db_session, key):
    response = client.post("/run", data="{not json", headers={**auth(key),
                           "Content-Type": "application/json"})
    _assert_error(response, 400, "invalid_json")


def test_body_too_large(client, db_session, key, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/run", data=big, headers={**auth(key),
                           "Content-Type": "application/json"})
    _assert_error(response, 413, "request_too_large")


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_api_key"),
    ({"Authorization": "Bearer gpub_wrong"}, "invalid_api_key"),
    ({"Authorization": "Basic abc"}, "missing_api_key"),
])
def test_bad_key_is_401(client, db_session, headers, code):
    _assert_error(client.post("/run", json=EMBED, headers=headers), 401, code)
    _assert_error(client.get("/account/balance", headers=headers), 401, code)
    # The key is checked before the body is read: a bad body does not hide a bad key.
    _assert_error(client.post("/run", data="{not json", headers={
        **headers, "Content-Type": "application/json"}), 401, code)


def test_short_balance_is_402_with_amount_and_nothing_held(client, db_session):
    key = register(client, "poor@example.com")
    before = counts(db_session)
    body = _assert_error(client.post("/run", json=EMBED, headers=auth(key)), 402,
                         "insufficient_credits")
    assert body["required_usd"] == 0.01 and body["balance_usd"] == 0
    assert counts(db_session) == before


def test_private_media_url_is_refused_when_not_allowed(app, client, db_session, key):
    app.config["ALLOW_PRIVATE_URLS"] = False
    try:
        response = client.post("/run", headers=auth(key), json={
            "service": "upscale-l4", "input": {"image_url": "http://127.0.0.1/a.png"}})
        _assert_error(response, 400, "invalid_url")
        response = client.post("/run", headers=auth(key),
                               json={**EMBED, "webhook_url": "http://169.254.169.254/hook"})
        _assert_error(response, 400, "invalid_webhook_url")
    finally:
        app.config["ALLOW_PRIVATE_URLS"] = True


def test_unknown_path_and_method_use_the_shared_shape(client, db_session):
    _assert_error(client.get("/nope"), 404, "not_found")
    _assert_error(client.get("/run"), 405, "method_not_allowed")
    _assert_error(client.get("/status/not-a-uuid"), 404, "job_not_found")


def test_duplicate_email_is_409(client, db_session):
    register(client, "twice@example.com")
    response = client.post("/account/register", json={"email": "Twice@example.com"})
    _assert_error(response, 409, "email_taken")
    _assert_error(client.post("/account/register", json={"email": "not-an-email"}), 400,
                  "invalid_field")
