"""Card top-ups: Checkout through the Stripe double, credits only from the signed webhook."""
import time
from collections import Counter
from decimal import Decimal

import pytest

from app.models import Account
from billing import ledger
from tests.helpers import auth, counts, data, register
from tests.stripe_double import completed_event, sign

from .conftest import concurrently, count


def _checkout(client, key, body) -> dict:
    response = client.post("/account/topup", json=body, headers=auth(key))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _deliver(client, payload: str, signature: str | None = None):
    headers = {"Content-Type": "application/json",
               "Stripe-Signature": signature if signature is not None else sign(payload)}
    return client.post("/webhooks/stripe", data=payload, headers=headers)


def _session(double) -> dict:
    """The Checkout Session the double created last, as Stripe would return it."""
    params = [p for m, path, p in double.calls if path == "/v1/checkout/sessions"][-1]
    return double.checkout_session(params)


def test_a_package_opens_checkout_for_its_price_and_saves_the_card(client, db_session,
                                                                   stripe_double):
    key = register(client, "card@example.com")
    answer = _checkout(client, key, {"package": "credits_50"})
    assert answer["checkout_url"].startswith(stripe_double.url)
    assert (answer["amount_usd"], answer["bonus_usd"], answer["credits_usd"]) == (50, 5, 55)
    params = stripe_double.calls[-1][2]
    assert params["line_items"]["0"]["price_data"]["unit_amount"] == "5000"  # cents
    assert params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert params["metadata"]["package"] == "credits_50"
    assert count(db_session, "topups") == 0  # nothing is credited before Stripe says paid


@pytest.mark.parametrize("body, code", [
    ({"amount_usd": 9.99}, "invalid_amount"),
    ({"amount_usd": "10.001"}, "invalid_amount"),
    ({"amount_usd": 10001}, "invalid_amount"),
    ({"amount_usd": "ten"}, "invalid_field"),
    ({"package": "credits_7"}, "unknown_package"),
])
def test_bad_top_up_requests_are_400_and_call_nobody(client, db_session, stripe_double, body,
                                                     code):
    key = register(client, "bad@example.com")
    response = client.post("/account/topup", json=body, headers=auth(key))
    assert response.status_code == 400 and response.get_json()["code"] == code
    assert stripe_double.calls == []


def test_an_amount_in_dollars_and_cents_is_exact(client, db_session, stripe_double):
    key = register(client, "cents@example.com")
    answer = data(client.post("/account/topup", data='{"amount_usd": 12.34}', headers={
        **auth(key), "Content-Type": "application/json"}))
    assert (answer["amount_usd"], answer["bonus_usd"]) == (Decimal("12.34"), 0)
    assert stripe_double.calls[-1][2]["line_items"]["0"]["price_data"]["unit_amount"] == "1234"


def test_without_stripe_settings_card_payments_are_503(app, client, db_session, monkeypatch):
    monkeypatch.setitem(app.extensions, "stripe", None)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)
    key = register(client, "nostripe@example.com")
    response = client.post("/account/topup", json={"amount_usd": 10}, headers=auth(key))
    assert response.status_code == 503
    assert response.get_json()["code"] == "payments_not_configured"
    assert client.post("/webhooks/stripe", data="{}").status_code == 503


def test_one_event_delivered_five_times_at_once_is_credited_once(app, client, db_session,
                                                                 stripe_double):
    key = register(client, "five@example.com")
    _checkout(client, key, {"package": "credits_25"})
    payload = completed_event(_session(stripe_double), "evt_five")
    responses = concurrently(5, lambda i: _deliver(app.test_client(), payload))
    assert [r.status_code for r in responses] == [200] * 5
    outcomes = Counter(r.get_json()["outcome"] for r in responses)
    assert outcomes == {"credited": 1, "duplicate": 4}
    balance = data(client.get("/account/balance", headers=auth(key)))
    assert balance["balance"] == Decimal("26.25")  # $25 paid + 5% bonus
    assert count(db_session, "topups") == 1 and count(db_session, "stripe_events") == 1
    db_session.expire_all()  # the test's session saw the account before the webhook
    account = db_session.query(Account).filter_by(email="five@example.com").one()
    assert account.stripe_customer_id == "cus_test_1"
    assert account.stripe_payment_method_id.startswith("pm_test_")
    assert ledger.check(db_session) == []


@pytest.mark.parametrize("signature", [
    "t=1,v1=00",  # wrong and ancient
    "",  # missing
    sign("{}"),  # signs another body
    None,  # replaced below by a correct signature 301 s old
])
def test_a_webhook_that_does_not_verify_is_400_and_changes_nothing(client, db_session,
                                                                   stripe_double, signature):
    key = register(client, "forged@example.com")
    _checkout(client, key, {"package": "credits_100"})
    payload = completed_event(_session(stripe_double), "evt_forged")
    if signature is None:
        signature = sign(payload, timestamp=int(time.time()) - 301)
    before = counts(db_session)
    response = _deliver(client, payload, signature)
    body = response.get_json()
    assert response.status_code == 400 and body["code"] == "invalid_signature"
    assert body["error"] and body["hint"]
    assert counts(db_session) == before and count(db_session, "stripe_events") == 0


def test_other_events_are_acknowledged_once_and_credit_nothing(client, db_session,
                                                               stripe_double):
    payload = ('{"id": "evt_other", "object": "event", "type": "customer.created", '
               '"data": {"object": {"id": "cus_1", "object": "customer"}}}')
    assert _deliver(client, payload).get_json()["outcome"] == "ignored"
    assert _deliver(client, payload).get_json()["outcome"] == "duplicate"
    assert count(db_session, "topups") == 0
