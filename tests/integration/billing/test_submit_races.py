"""POST /run under real concurrency: idempotency keys, the balance and the daily limit are
decided by PostgreSQL, never by a read-then-write in Python."""
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.models import Account
from billing import ledger
from billing.accounts import daily_spend
from tests.helpers import auth, counts, data, grant, register

from .conftest import LLM, VISION, concurrently, count


pytestmark = pytest.mark.usefixtures("jobs_stay_queued")

def _account_id(session, email: str) -> int:
    return session.query(Account.id).filter_by(email=email).scalar()


def test_fifty_concurrent_runs_with_one_key_make_one_job_and_one_hold(app, client, db_session,
                                                                      fake_backend):
    key = register(client, "idem@example.com")
    grant(app, "idem@example.com", "1")
    headers = {**auth(key), "Idempotency-Key": "order-42"}
    responses = concurrently(50, lambda i: app.test_client().post("/run", json=LLM,
                                                                  headers=headers))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {202, 409}, statuses
    accepted = [r for r in responses if r.status_code == 202]
    assert len({r.get_json()["job_id"] for r in accepted}) == 1
    assert all(r.get_json()["code"] == "idempotency_in_flight"
               for r in responses if r.status_code == 409)
    assert count(db_session, "jobs") == 1
    assert count(db_session, "ledger_transactions WHERE kind = 'hold'") == 1
    assert ledger.balance(db_session, _account_id(db_session, "idem@example.com")) == 997_000

    replay = client.post("/run", json={"input": {"prompt": "hi"}, "service": "llm-4090"},
                         headers=headers)  # same body, other key order
    first = next(r for r in accepted if "Idempotent-Replayed" not in r.headers)
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == first.get_data()
    assert ledger.check(db_session) == []


def test_same_key_other_body_is_422_and_keys_belong_to_one_account(app, client, db_session,
                                                                   fake_backend):
    ada, bob = register(client, "ada@example.com"), register(client, "bob@example.com")
    grant(app, "ada@example.com", "1")
    grant(app, "bob@example.com", "1")
    first = client.post("/run", json=LLM, headers={**auth(ada), "Idempotency-Key": "k1"})
    other = client.post("/run", json={**LLM, "input": {"prompt": "bye"}},
                        headers={**auth(ada), "Idempotency-Key": "k1"})
    assert first.status_code == 202 and other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    bobs = client.post("/run", json=LLM, headers={**auth(bob), "Idempotency-Key": "k1"})
    assert bobs.status_code == 202 and bobs.get_json()["job_id"] != first.get_json()["job_id"]
    assert count(db_session, "jobs") == 2


def test_a_key_is_free_again_after_24_hours(app, client, db_session, fake_backend):
    key = register(client, "day@example.com")
    grant(app, "day@example.com", "1")
    headers = {**auth(key), "Idempotency-Key": "daily-report"}
    first = client.post("/run", json=LLM, headers=headers).get_json()["job_id"]
    db_session.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"))
    db_session.commit()
    second = client.post("/run", json=LLM, headers=headers)
    assert second.status_code == 202 and second.get_json()["job_id"] != first


def test_a_twin_still_in_flight_gets_409(app, client, db_session, fake_backend):
    key = register(client, "twin@example.com")
    grant(app, "twin@example.com", "1")
    account_id = _account_id(db_session, "twin@example.com")
    db_session.commit()
    # Another connection is in the middle of the same key's submit transaction.
    with app.extensions["sqlalchemy"].engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:n, 0))"),
                      {"n": f"idempotency:{account_id}:same"})
        busy = client.post("/run", json=LLM, headers={**auth(key), "Idempotency-Key": "same"})
        other.rollback()
    assert busy.status_code == 409 and busy.get_json()["code"] == "idempotency_in_flight"
    assert count(db_session, "jobs") == 0
    done = client.post("/run", json=LLM, headers={**auth(key), "Idempotency-Key": "same"})
    assert done.status_code == 202


def test_a_refused_first_request_leaves_its_key_unused(app, client, db_session, fake_backend):
    key = register(client, "late@example.com")
    headers = {**auth(key), "Idempotency-Key": "retry-me"}
    assert client.post("/run", json=LLM, headers=headers).status_code == 402
    grant(app, "late@example.com", "1")
    assert client.post("/run", json=LLM, headers=headers).status_code == 202


def test_over_the_daily_limit_with_an_idempotency_key_is_429_and_frees_the_key(
        app, client, db_session, fake_backend):
    key = register(client, "capped@example.com")
    grant(app, "capped@example.com", "10")
    assert client.post("/account/spending-limit", json={"daily_limit_usd": 1},
                       headers=auth(key)).status_code == 200
    for _ in range(20):  # 20 x $0.05 reach the $1 limit
        assert client.post("/run", json=VISION, headers=auth(key)).status_code == 202
    account_id = _account_id(db_session, "capped@example.com")
    before = counts(db_session), daily_spend(db_session, account_id)
    db_session.rollback()
    refused = client.post("/run", json=VISION, headers={**auth(key), "Idempotency-Key": "k"})
    assert refused.status_code == 429, refused.get_json()
    assert refused.get_json()["daily_limit_usd"] == 1
    assert refused.get_json()["daily_spend_usd"] == 1
    assert (counts(db_session), daily_spend(db_session, account_id)) == before
    # The refusal released the key: raised limit, same key, accepted.
    assert client.post("/account/spending-limit", json={"daily_limit_usd": 2},
                       headers=auth(key)).status_code == 200
    assert client.post("/run", json=VISION, headers={**auth(key), "Idempotency-Key": "k"}
                       ).status_code == 202


def test_ten_cents_and_a_hundred_concurrent_jobs_at_three_tenths_of_a_cent(app, client,
                                                                         db_session,
                                                                         fake_backend):
    key = register(client, "race@example.com")
    grant(app, "race@example.com", "0.10")
    responses = concurrently(100, lambda i: app.test_client().post("/run", json=LLM,
                                                                   headers=auth(key)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 33, 402: 67}, statuses  # 33 x $0.003 = $0.099 <= $0.10
    assert {data(r)["estimated_cost_usd"] for r in responses if r.status_code == 202} == \
        {Decimal("0.003")}
    account_id = _account_id(db_session, "race@example.com")
    assert ledger.balance(db_session, account_id) == 1_000
    assert ledger.balance(db_session, account_id, "held") == 99_000
    assert count(db_session, "jobs") == 33
    assert ledger.check(db_session) == []


def test_the_daily_limit_holds_under_the_same_race(app, client, db_session, fake_backend):
    key = register(client, "limit@example.com")
    grant(app, "limit@example.com", "10")
    set_limit = client.post("/account/spending-limit", json={"daily_limit_usd": 1},
                            headers=auth(key))
    assert set_limit.status_code == 200, set_limit.get_json()
    responses = concurrently(40, lambda i: app.test_client().post("/run", json=VISION,
                                                                  headers=auth(key)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 20, 429: 20}, statuses  # 20 x $0.05 = the $1 limit
    refused = [r.get_json() for r in responses if r.status_code == 429]
    assert {body["code"] for body in refused} == {"daily_limit_exceeded"}
    assert count(db_session, "jobs") == 20
    assert count(db_session, "ledger_transactions WHERE kind = 'hold'") == 20
    balance = data(client.get("/account/balance", headers=auth(key)))
    assert (balance["daily_spend"], balance["daily_limit"]) == (1, 1)
    assert balance["balance"] == 9 and balance["held"] == 1
    assert ledger.check(db_session) == []
