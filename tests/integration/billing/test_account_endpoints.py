"""Account endpoints: balance and discount tiers, limits, auto top-up settings, keys, recovery."""
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.catalog import load_catalog
from billing.settlement import settle_job
from tests.helpers import auth, data, grant, register

from .conftest import LLM, count


pytestmark = pytest.mark.usefixtures("jobs_stay_queued")

def test_a_new_account_shows_the_standard_tier_and_the_next_one(client, db_session):
    key = register(client, "new@example.com")
    balance = data(client.get("/account/balance", headers=auth(key)))
    assert (balance["balance"], balance["daily_spend"], balance["daily_limit"]) == (0, 0, 50)
    assert balance["volume_discount"] == {
        "tier": "standard", "discount_percent": 0, "lifetime_topups_usd": 0,
        "next_tier": {"name": "bronze", "threshold": 100, "discountPercent": 5,
                      "remaining_usd": 100}}
    assert balance["auto_topup"] == {"enabled": False, "threshold": None, "amount": None,
                                     "card_saved": False}


def test_gold_is_the_top_tier_and_grants_do_not_count(app, client, db_session):
    key = register(client, "gold@example.com")
    grant(app, "gold@example.com", "5000")  # operator credit is not a top-up
    acct = db_session.execute(text("SELECT id FROM accounts")).scalar()
    db_session.execute(text("INSERT INTO topups (account_id, source, reference, paid_amount) "
                            "VALUES (:a, 'stripe_checkout', 'stripe:cs_gold', 1000000000)"),
                       {"a": acct})
    db_session.commit()
    tier = data(client.get("/account/balance", headers=auth(key)))["volume_discount"]
    assert (tier["tier"], tier["discount_percent"], tier["next_tier"]) == ("gold", 15, None)


def test_estimate_without_a_key_is_the_list_price(client, db_session):
    quote = data(client.get("/catalog/estimate?service=llm-4090"))
    assert (quote["estimated_cost_usd"], quote["discount_percent"]) == (Decimal("0.003"), 0)
    bad = client.get("/catalog/estimate?service=llm-4090", headers=auth("gpub_nope"))
    assert bad.status_code == 401


@pytest.mark.parametrize("value, status", [
    (0.5, 400), (10001, 400), ("abc", 400), (None, 400), (1, 200), ("10000", 200),
    ("75.50", 200),
])
def test_spending_limit_is_one_to_ten_thousand_dollars(client, db_session, value, status):
    key = register(client, "limits@example.com")
    response = client.post("/account/spending-limit", json={"daily_limit_usd": value},
                           headers=auth(key))
    assert response.status_code == status, response.get_json()
    limit = data(client.get("/account/balance", headers=auth(key)))["daily_limit"]
    assert limit == (Decimal(str(value)) if status == 200 else 50)


def test_daily_spend_counts_settled_charges_and_open_holds(app, client, db_session,
                                                           fake_backend):
    key = register(client, "spend@example.com")
    grant(app, "spend@example.com", "1")
    client.post("/account/spending-limit", json={"daily_limit_usd": 1}, headers=auth(key))
    first = client.post("/run", json={**LLM, "input": {"prompt": "hi", "max_tokens": 8192}},
                        headers=auth(key)).get_json()["job_id"]  # holds $0.006473
    db_session.execute(text("UPDATE jobs SET status = 'failed', finished_at = now()"))
    db_session.commit()
    settle_job(db_session, load_catalog(), uuid.UUID(first))  # refunded: costs nothing today
    client.post("/run", json=LLM, headers=auth(key))  # holds $0.003
    spend = data(client.get("/account/balance", headers=auth(key)))["daily_spend"]
    assert spend == Decimal("0.003")


def test_auto_top_up_settings_are_checked_and_can_be_turned_off(client, db_session):
    key = register(client, "settings@example.com")
    for body in ({"threshold": 5}, {"threshold": 5, "amount": 5}, {"threshold": 0, "amount": 20},
                 {"threshold": "x", "amount": 20}):
        response = client.post("/account/auto-topup", json=body, headers=auth(key))
        assert response.status_code == 400, body
    ok = client.post("/account/auto-topup", json={"threshold": 5, "amount": 20},
                     headers=auth(key)).get_json()
    assert (ok["enabled"], ok["threshold"], ok["amount"], ok["card_saved"]) == \
        (True, 5, 20, False)
    off = client.post("/account/auto-topup", json={"enabled": False}, headers=auth(key))
    assert off.status_code == 200
    assert data(client.get("/account/balance", headers=auth(key)))["auto_topup"]["enabled"] \
        is False


def test_a_regenerated_key_replaces_the_old_one_at_once(app, client, db_session):
    old = register(client, "rotate@example.com")
    new = client.post("/account/regenerate-key", headers=auth(old)).get_json()["api_key"]
    assert new != old and new.startswith("gpub_")
    other_process = app.test_client()  # any API process checks the key in the database
    assert other_process.get("/account/balance", headers=auth(old)).status_code == 401
    assert other_process.get("/account/balance", headers=auth(new)).status_code == 200
    again = client.post("/account/regenerate-key", headers=auth(old))
    assert again.status_code == 401 and again.get_json()["code"] == "invalid_api_key"
    assert client.post("/account/regenerate-key").status_code == 401


def test_recovery_answers_the_same_whether_or_not_the_email_exists(client, db_session):
    register(client, "known@example.com")
    known = client.post("/account/recover", json={"email": "known@example.com"})
    unknown = client.post("/account/recover", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_data() == unknown.get_data()
    rows = db_session.execute(text("SELECT email, account_id IS NOT NULL FROM support_requests "
                                   "ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [("known@example.com", True),
                                            ("nobody@example.com", False)]
    assert client.post("/account/recover", json={"email": "nope"}).status_code == 400
    assert count(db_session, "support_requests") == 2
