"""Webhooks end to end: signed job events to a local receiver, retries, the delivery log."""
import json
import uuid
from decimal import Decimal

from flask import g
from sqlalchemy import select, text
from standardwebhooks import Webhook

from app import lifecycle, notifications, webhooks
from app.catalog import load_catalog
from app.models import Account, Job, WebhookDelivery
from billing.settlement import settle_job
from tests.helpers import auth, counts, data, grant, register
from tests.integration.conftest import wait_for
from tests.needs import require_module
from tests.receiver import Receiver
from workers.lifecycle_tasks import sweep_lifecycle

EMBED = {"service": "embedding-l4", "input": {"text": ["hello"]}}
QUICK = webhooks.DeliverySettings(schedule=(0, 0, 0, 0), timeout=5, allow_private=True)


def _account_id(session, email):
    return session.execute(select(Account.id).where(Account.email == email)).scalar_one()


def _log(client, key, **params):
    response = client.get("/account/webhooks/deliveries", headers=auth(key), query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]


def test_job_events_are_signed_and_verify_with_the_standardwebhooks_package(
        app, client, db_session, worker):
    require_module("tokenizers")
    key = register(client, "hooks@example.com")
    grant(app, "hooks@example.com", "1")
    secret = client.get("/account/webhook-secret", headers=auth(key)).get_json()["secret"]
    assert secret.startswith("whsec_")
    with Receiver() as receiver:
        body = {**EMBED, "webhook_url": receiver.url, "webhook_events": ["job.started"]}
        job_id = client.post("/run", json=body, headers=auth(key)).get_json()["job_id"]
        wait_for(lambda: _all_delivered(db_session, 2))
    events = {}
    for request in receiver.requests:
        parsed = _verified(secret, request)
        events[parsed["type"]] = parsed
    assert set(events) == {"job.started", "job.completed"}
    done = events["job.completed"]["data"]
    status = data(client.get(f"/status/{job_id}"))
    assert done["job_id"] == job_id and done["status"] == "completed" and done["settled"]
    assert str(status["cost_usd"]) == str(done["cost_usd"])
    assert done["urls"]["cancel"].endswith(f"/cancel/{job_id}")
    log = _log(client, key, job_id=job_id)
    assert sorted(d["event_type"] for d in log) == ["job.completed", "job.started"]
    for delivery in log:
        assert delivery["status"] == "delivered"
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
        assert delivery["attempts"][0]["latency_ms"] >= 0
    # A redelivered settle (or sweep) records nothing new: one delivery per event per job.
    services = notifications.Services.of(app)
    notifications.job_settled(db_session, services, uuid.UUID(job_id))
    notifications.job_started(db_session, services, uuid.UUID(job_id))
    assert len(_log(client, key, job_id=job_id)) == 2


def test_receiver_down_twice_then_up_is_delivered_on_the_third_try(app, client, db_session):
    key = register(client, "retry@example.com")
    account_id = _account_id(db_session, "retry@example.com")
    secret = client.get("/account/webhook-secret", headers=auth(key)).get_json()["secret"]
    with Receiver(answers=[(503, {}), (500, {})]) as receiver:
        delivery = webhooks.record_account_event(db_session, account_id, receiver.url, "t:1",
                                                 "account.test", {"n": 1})
        outcomes = [webhooks.attempt(db_session, delivery, QUICK) for _ in range(3)]
        assert webhooks.attempt(db_session, delivery, QUICK) is None  # finished: no 4th POST
    assert [o.status for o in outcomes] == ["pending", "pending", "delivered"]
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    for request in receiver.requests:
        _verified(secret, request)
    [logged] = _log(client, key)
    assert logged["webhook_id"] in ids and logged["status"] == "delivered"
    assert [(a["number"], a["status_code"], a["error"]) for a in logged["attempts"]] == \
        [(1, 503, "HTTP 503"), (2, 500, "HTTP 500"), (3, 200, None)]


def test_the_worker_retries_a_refused_connection_on_the_schedule(app, client, db_session,
                                                                 worker):
    register(client, "down@example.com")
    account_id = _account_id(db_session, "down@example.com")
    receiver = Receiver(listening=False)  # the port refuses connections until listen()
    try:
        delivery = webhooks.record_account_event(db_session, account_id, receiver.url, "t:2",
                                                 "account.test", {"n": 2})
        webhooks.send(app.extensions["celery"], delivery)
        wait_for(lambda: _attempts(db_session, delivery) == 1)
        receiver.listen()  # the schedule's second wait is 5 s; the worker's ETA task retries
        wait_for(lambda: _status(db_session, delivery) == "delivered", timeout=30)
    finally:
        receiver.close()
    assert _attempts(db_session, delivery) == 2 and len(receiver.requests) == 1


def _verified(secret, request) -> dict:
    """The body, once the standardwebhooks package accepted its signature (money as Decimal)."""
    Webhook(secret).verify(request["body"], request["headers"], json_parse=False)
    return json.loads(request["body"], parse_float=Decimal)


def _all_delivered(session, count):
    session.commit()
    return session.execute(text("SELECT count(*) FROM webhook_deliveries "
                                "WHERE status = 'delivered'")).scalar() == count


def _attempts(session, delivery_id):
    return session.execute(text("SELECT count(*) FROM webhook_attempts WHERE delivery_id = :d"),
                           {"d": delivery_id}).scalar()


def _status(session, delivery_id):
    session.commit()
    return session.get(WebhookDelivery, delivery_id, populate_existing=True).status


def test_gone_stops_and_retry_after_is_honoured(app, client, db_session):
    register(client, "gone@example.com")
    account_id = _account_id(db_session, "gone@example.com")
    settings = webhooks.DeliverySettings(schedule=(0, 1, 3600), timeout=5, allow_private=True)
    with Receiver(answers=[(429, {"Retry-After": "120"}), (410, {})]) as receiver:
        delivery = webhooks.record_account_event(db_session, account_id, receiver.url, "t:3",
                                                 "account.test", {})
        assert webhooks.attempt(db_session, delivery, settings) == webhooks.Outcome("pending", 120)
        assert webhooks.attempt(db_session, delivery, settings) is None  # not due for 120 s
        db_session.execute(text("UPDATE webhook_deliveries SET next_attempt_at = now()"))
        db_session.commit()
        assert webhooks.attempt(db_session, delivery, settings).status == "gone"
        db_session.execute(text("UPDATE webhook_deliveries SET next_attempt_at = now()"))
        db_session.commit()
        assert webhooks.attempt(db_session, delivery, settings) is None
    assert len(receiver.requests) == 2


def test_rotation_signs_with_old_and_new_secret_and_replay_resends_the_same_id(
        app, client, db_session, worker):
    key = register(client, "rotate@example.com")
    account_id = _account_id(db_session, "rotate@example.com")
    old = client.get("/account/webhook-secret", headers=auth(key)).get_json()["secret"]
    rotated = client.post("/account/webhook-secret/rotate", headers=auth(key)).get_json()
    new = rotated["secret"]
    assert new != old and rotated["previous_secret_valid_until"]
    assert client.get("/account/webhook-secret", headers=auth(key)).get_json()["secret"] == new
    with Receiver() as receiver:
        delivery = webhooks.record_account_event(db_session, account_id, receiver.url, "t:4",
                                                 "account.test", {})
        webhooks.send(app.extensions["celery"], delivery)
        wait_for(lambda: _status(db_session, delivery) == "delivered")
        replayed = client.post(f"/account/webhooks/deliveries/{delivery}/replay",
                               headers=auth(key))
        assert replayed.status_code == 202
        wait_for(lambda: _attempts(db_session, delivery) == 2
                 and _status(db_session, delivery) == "delivered")
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["body"] == second["body"]
    assert len(first["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        _verified(secret, first)
    other = register(client, "other@example.com")
    g.pop("account", None)  # the fixture's app context outlives requests; forget the last key
    assert client.post(f"/account/webhooks/deliveries/{delivery}/replay",
                       headers=auth(other)).status_code == 409


def test_delivery_refuses_a_private_address_when_private_urls_are_off(app, client, db_session):
    register(client, "strict@example.com")
    account_id = _account_id(db_session, "strict@example.com")
    strict = webhooks.DeliverySettings(schedule=(0, 0), timeout=5, allow_private=False)
    with Receiver() as receiver:
        delivery = webhooks.record_account_event(db_session, account_id, receiver.url, "t:5",
                                                 "account.test", {})
        assert webhooks.attempt(db_session, delivery, strict).status == "failed"
    assert receiver.connections == 0
    error = db_session.execute(text("SELECT error FROM webhook_attempts")).scalar()
    assert "loopback or private" in error


def test_submit_refuses_private_webhook_urls_and_changes_nothing(app, client, db_session,
                                                                 monkeypatch):
    require_module("tokenizers")
    key = register(client, "submit@example.com")
    grant(app, "submit@example.com", "1")
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_URLS", False)
    before = counts(db_session)
    for url in ("http://127.0.0.1:9/", "http://[::1]/", "http://169.254.169.254/",
                "http://2130706433/", "http://0x7f.1/", "http://017700000001/"):
        response = client.post("/run", json={**EMBED, "webhook_url": url}, headers=auth(key))
        assert response.status_code == 400, url
        assert response.get_json()["code"] == "invalid_webhook_url"
    for url in ("data:text/plain,hi", "file:///etc/passwd", "gopher://example.com/"):
        response = client.post("/run", json={**EMBED, "webhook_url": url}, headers=auth(key))
        assert response.status_code == 400 and response.get_json()["field"] == "webhook_url"
    bad = client.post("/run", json={**EMBED, "webhook_url": "https://example.com/h",
                                    "webhook_events": ["job.exploded"]}, headers=auth(key))
    assert bad.status_code == 400 and bad.get_json()["field"].startswith("webhook_events")
    assert counts(db_session) == before


def test_budget_alerts_fire_once_a_day_when_the_balance_is_low(app, client, db_session,
                                                                worker):
    key = register(client, "budget@example.com")
    grant(app, "budget@example.com", "2")
    account_id = _account_id(db_session, "budget@example.com")
    secret = client.get("/account/webhook-secret", headers=auth(key)).get_json()["secret"]
    with Receiver() as receiver:
        response = client.put("/account/alerts", headers=auth(key), json={
            "webhook_url": receiver.url, "balance_below_usd": "5.00"})
        assert response.status_code == 200, response.get_json()
        services = notifications.Services.of(app)
        for _ in range(2):  # a second settlement the same day sends nothing new
            notifications.budget_alerts(db_session, services, account_id)
        wait_for(lambda: _all_delivered(db_session, 1))
    [logged] = _log(client, key)
    assert logged["event_type"] == "account.balance_low" and logged["status"] == "delivered"
    [request] = receiver.requests
    body = _verified(secret, request)
    assert body["data"]["balance_usd"] == 2 and body["data"]["threshold_usd"] == 5
    bad = client.put("/account/alerts", headers=auth(key),
                     json={"webhook_url": receiver.url, "balance_below_usd": 5})
    assert bad.status_code == 400 and bad.get_json()["field"] == "balance_below_usd"


def test_the_sweep_records_a_final_event_a_dying_worker_left_out(app, client, db_session,
                                                                 worker, monkeypatch):
    require_module("tokenizers")
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)  # stays queued
    key = register(client, "sweephook@example.com")
    grant(app, "sweephook@example.com", "1")
    with Receiver() as receiver:
        job_id = client.post("/run", json={**EMBED, "webhook_url": receiver.url},
                             headers=auth(key)).get_json()["job_id"]
        # Cancelled and settled, but the process died before recording the webhook event.
        job = db_session.get(Job, uuid.UUID(job_id))
        lifecycle.cancel_job(db_session, job)
        settle_job(db_session, load_catalog(), job.id)
        assert notifications.missing_final_events(db_session) == []  # within the grace
        db_session.execute(text("UPDATE jobs SET settled_at = now() - interval '1 minute'"))
        db_session.commit()
        assert sweep_lifecycle()["events"] == 1
        wait_for(lambda: _all_delivered(db_session, 1))
        assert sweep_lifecycle()["events"] == 0
    secret = client.get("/account/webhook-secret", headers=auth(key)).get_json()["secret"]
    event = _verified(secret, receiver.requests[0])
    assert event["type"] == "job.cancelled"
    assert event["data"]["refund_amount_usd"] == Decimal("0.01")
