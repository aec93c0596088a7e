"""Worked examples, told as accounting stories on the real database, to the micro-dollar."""
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.catalog import load_catalog
from billing import accounts, auto_topup, discounts, ledger
from billing.settlement import settle_job
from providers.base import Result, Usage
from tests.helpers import auth, data, register
from tests.stripe_double import completed_event, sign
from workers.tasks import run_job

from .conftest import LLM, concurrently, count


pytestmark = pytest.mark.usefixtures("jobs_stay_queued")

def _top_up(client, double, key, body, event_id):
    """The customer pays by card: Checkout, then Stripe's signed webhook."""
    assert client.post("/account/topup", json=body, headers=auth(key)).status_code == 200
    params = [p for m, path, p in double.calls if path == "/v1/checkout/sessions"][-1]
    payload = completed_event(double.checkout_session(params), event_id)
    response = client.post("/webhooks/stripe", data=payload,
                           headers={"Stripe-Signature": sign(payload)})
    assert response.get_json()["outcome"] == "credited"


def _finish(session, job_id, status, usage=None):
    """What a worker records when a job ends (the provider is not the subject here)."""
    session.execute(text("UPDATE jobs SET status = :s, usage = CAST(:u AS JSONB), "
                         "finished_at = now() WHERE id = :id"),
                    {"s": status, "u": json.dumps(usage), "id": uuid.UUID(job_id)})
    session.commit()


def _owner(session, email) -> int:
    return session.execute(text("SELECT id FROM accounts WHERE email = :e"),
                           {"e": email}).scalar()


def test_top_up_with_bonus_then_hold_settle_with_discount_and_refund(app, client, db_session,
                                                                     stripe_double,
                                                                     fake_backend):
    key = register(client, "story@example.com")
    acct = _owner(db_session, "story@example.com")
    # 1. $100 package by card: $100 paid + 15% bonus = $115 available; lifetime $100 -> 5%.
    _top_up(client, stripe_double, key, {"package": "credits_100"}, "evt_story")
    balance = data(client.get("/account/balance", headers=auth(key)))
    assert balance["balance"] == Decimal("115")
    assert balance["volume_discount"] == {
        "tier": "bronze", "discount_percent": 5, "lifetime_topups_usd": 100,
        "next_tier": {"name": "silver", "threshold": 500, "discountPercent": 10,
                      "remaining_usd": 400}}
    # 2. An LLM job of up to 8192 output tokens on llama-3.3-70b ($0.59 / $0.79 per Mtok):
    #    list estimate ceil((1 x 590000 + 8192 x 790000) / 1e6) = 6473 micro-USD,
    #    less 5% (floor in the customer's favour) = 6149 held; the 202 says so.
    job = {**LLM, "input": {"prompt": "hi", "max_tokens": 8192}}
    quote = data(client.get("/catalog/estimate?service=llm-4090", headers=auth(key)))
    assert (quote["list_cost_usd"], quote["estimated_cost_usd"]) == \
        (Decimal("0.003"), Decimal("0.00285"))
    accepted = data(client.post("/run", json=job, headers=auth(key)))
    assert (accepted["estimated_cost_usd"], accepted["discount_percent"]) == \
        (Decimal("0.006149"), 5)
    assert ledger.balance(db_session, acct) == 115_000_000 - 6_149
    assert ledger.balance(db_session, acct, "held") == 6_149
    # 3. It used 3000 output tokens: list ceil(2370.59) = 2371, raised to the $0.003 minimum,
    #    less 5% = 2850 captured; 6149 - 2850 = 3299 refunded; the discount saved 150.
    _finish(db_session, accepted["job_id"], "completed",
            {"input_tokens": 1, "output_tokens": 3000, "compute_seconds": 0.5, "outputs": 1})
    result = settle_job(db_session, load_catalog(), uuid.UUID(accepted["job_id"]))
    assert (result.captured, result.refunded) == (2_850, 3_299)
    assert settle_job(db_session, load_catalog(), uuid.UUID(accepted["job_id"])) is None
    status = data(client.get(f"/status/{accepted['job_id']}"))
    assert (status["cost_usd"], status["refund_amount_usd"], status["discount_usd"]) == \
        (Decimal("0.00285"), Decimal("0.003299"), Decimal("0.00015"))
    history = data(client.get("/account/jobs", headers=auth(key)))["jobs"][0]
    assert (history["cost_usd"], history["refunded"], history["discount_percent"]) == \
        (Decimal("0.00285"), True, 5)
    # 4. The books: the customer is down exactly what was captured, and it is booked as spent.
    assert ledger.balance(db_session, acct) == 115_000_000 - 2_850
    assert ledger.balance(db_session, acct, "held") == 0
    assert ledger.balance(db_session, acct, "spent") == 2_850
    assert ledger.check(db_session) == []


class Used3000Tokens:
    """The groq backend, answering with the usage of the story above."""

    def availability(self, task):
        return None

    def run(self, call):
        return Result(output={"text": "ok"}, usage=Usage(
            input_tokens=1, output_tokens=3000, compute_seconds=0.5, outputs=1))


def test_the_worker_settles_the_same_story_in_its_final_statement_and_arms_auto_top_up(
        app, client, db_session, stripe_double, monkeypatch):
    key = register(client, "worker-story@example.com")
    acct = _owner(db_session, "worker-story@example.com")
    _top_up(client, stripe_double, key, {"package": "credits_100"}, "evt_worker_story")
    assert client.post("/account/auto-topup", json={"threshold": 200, "amount": 25},
                       headers=auth(key)).status_code == 200
    monkeypatch.setitem(app.extensions["backends"], "groq", Used3000Tokens())
    sent = []
    monkeypatch.setattr(app.extensions["celery"], "send_task",
                        lambda name, args=None, **kw: sent.append((name, args)))
    job = {**LLM, "input": {"prompt": "hi", "max_tokens": 8192}}
    accepted = data(client.post("/run", json=job, headers=auth(key)))
    assert run_job(accepted["job_id"]) == "completed"
    # The numbers of the story above, written by the job's final statement, not the task.
    row = db_session.execute(text(
        "SELECT actual_cost, refunded_amount, discount_amount, settled_at = finished_at AS "
        "together FROM jobs WHERE id = :id"), {"id": uuid.UUID(accepted["job_id"])}).one()
    assert tuple(row) == (2_850, 3_299, 150, True)
    assert ledger.balance(db_session, acct) == 115_000_000 - 2_850
    assert ledger.balance(db_session, acct, "spent") == 2_850
    # $114.99715 is under the $200 threshold: the statement armed one charge, sent to billing.
    armed = db_session.execute(text("SELECT id FROM auto_topups WHERE account_id = :a"),
                               {"a": acct}).scalars().all()
    assert len(armed) == 1 and ("workers.auto_topup", [armed[0]]) in sent
    assert ledger.check(db_session) == []


def test_a_failed_job_is_refunded_in_full(app, client, db_session, stripe_double,
                                          fake_backend):
    key = register(client, "fail@example.com")
    acct = _owner(db_session, "fail@example.com")
    _top_up(client, stripe_double, key, {"amount_usd": 10}, "evt_fail")  # no package: no bonus
    accepted = data(client.post("/run", json=LLM, headers=auth(key)))
    assert ledger.balance(db_session, acct) == 10_000_000 - 3_000
    _finish(db_session, accepted["job_id"], "failed")
    result = settle_job(db_session, load_catalog(), uuid.UUID(accepted["job_id"]))
    assert (result.captured, result.refunded) == (0, 3_000)
    assert ledger.balance(db_session, acct) == 10_000_000
    status = data(client.get(f"/status/{accepted['job_id']}"))
    assert (status["cost_usd"], status["refunded"], status["refund_amount_usd"]) == \
        (0, True, Decimal("0.003"))
    assert ledger.check(db_session) == []


def _jobs_settling_at_once(app, client, db_session, key, how_many: int) -> list:
    job_ids = [client.post("/run", json=LLM, headers=auth(key)).get_json()["job_id"]
               for _ in range(how_many)]
    for job_id in job_ids:
        _finish(db_session, job_id, "completed", {"input_tokens": 1, "output_tokens": 1})

    def settle(i):
        with app.app_context():
            from app.extensions import db
            return settle_job(db.session, load_catalog(), uuid.UUID(job_ids[i]))
    return concurrently(how_many, settle)


def test_auto_top_up_fires_once_for_many_settlements(app, client, db_session, stripe_double,
                                                     fake_backend):
    key = register(client, "auto@example.com")
    acct = _owner(db_session, "auto@example.com")
    _top_up(client, stripe_double, key, {"amount_usd": 10}, "evt_auto")  # saves the card
    configured = client.post("/account/auto-topup", json={"threshold": 20, "amount": 25},
                             headers=auth(key))
    assert configured.status_code == 200 and configured.get_json()["card_saved"]
    # Five jobs settle at once, each leaving the balance under $20: one charge is armed.
    settled = _jobs_settling_at_once(app, client, db_session, key, 5)
    armed = [s.auto_topup_id for s in settled if s.auto_topup_id is not None]
    assert len(armed) == 1 and count(db_session, "auto_topups") == 1
    # The billing task is delivered three times at once: Stripe's idempotency key makes it
    # one PaymentIntent, and the ledger credits it once.
    def charge(i):
        with app.app_context():
            from app.extensions import db
            return auto_topup.run(db.session, app.extensions["stripe"], armed[0])
    assert set(concurrently(3, charge)) <= {"succeeded"}
    intents = stripe_double.payment_intents_created()
    assert intents and all(p["off_session"] == "true" and p["confirm"] == "true"
                           and p["amount"] == "2500" for p in intents)
    assert len(stripe_double.by_idempotency_key) == 1
    assert count(db_session, "topups WHERE source = 'stripe_auto'") == 1
    assert ledger.balance(db_session, acct) == 10_000_000 - 5 * 3_000 + 25_000_000
    # Back above the threshold: the next settlement arms nothing.
    assert _jobs_settling_at_once(app, client, db_session, key, 1)[0].auto_topup_id is None
    assert ledger.check(db_session) == []


def test_a_declined_card_is_not_retried_per_job_until_reconfigured(app, client, db_session,
                                                                   stripe_double,
                                                                   fake_backend):
    key = register(client, "declined@example.com")
    _top_up(client, stripe_double, key, {"amount_usd": 10}, "evt_declined")
    client.post("/account/auto-topup", json={"threshold": 20, "amount": 25}, headers=auth(key))
    stripe_double.decline = True
    first = _jobs_settling_at_once(app, client, db_session, key, 1)[0].auto_topup_id
    assert auto_topup.run(db_session, app.extensions["stripe"], first) == "failed"
    assert all(s.auto_topup_id is None
               for s in _jobs_settling_at_once(app, client, db_session, key, 2))
    assert len(stripe_double.payment_intents_created()) == 1
    client.post("/account/auto-topup", json={"threshold": 20, "amount": 25}, headers=auth(key))
    assert _jobs_settling_at_once(app, client, db_session, key, 1)[0].auto_topup_id is not None


@pytest.mark.parametrize("lifetime", [0, 99_999_999, 100_000_000, 499_999_999, 500_000_000,
                                      999_999_999, 1_000_000_000, 10**13])
def test_post_run_holds_the_price_of_the_tier_the_account_has_reached(
        app, client, db_session, fake_backend, lifetime):
    # The database picks the tier inside POST /run's one statement; it must be the tier
    # billing.discounts.tier_for names, on both sides of every threshold.
    key = register(client, f"tier{lifetime}@example.com")
    acct = _owner(db_session, f"tier{lifetime}@example.com")
    db_session.execute(text("UPDATE accounts SET lifetime_topups = :l WHERE id = :a"),
                       {"l": lifetime, "a": acct})
    db_session.commit()
    accounts.grant(db_session, acct, 1_000_000, f"tier-{lifetime}", "test credit")
    db_session.commit()
    job = {**LLM, "input": {"prompt": "hi", "max_tokens": 8192}}  # list estimate 6473
    accepted = data(client.post("/run", json=job, headers=auth(key)))
    percent = discounts.tier_for(lifetime).percent
    held = discounts.apply(6_473, percent)
    assert accepted["discount_percent"] == percent
    assert accepted["estimated_cost_usd"] == Decimal(held) / 1_000_000
    assert ledger.balance(db_session, acct, "held") == held


def test_a_402_names_the_price_after_the_accounts_discount(app, client, db_session,
                                                          fake_backend):
    key = register(client, "short-bronze@example.com")
    acct = _owner(db_session, "short-bronze@example.com")
    db_session.execute(text("UPDATE accounts SET lifetime_topups = 100000000 WHERE id = :a"),
                       {"a": acct})
    db_session.commit()
    job = {**LLM, "input": {"prompt": "hi", "max_tokens": 8192}}  # list estimate 6473
    response = client.post("/run", json=job, headers=auth(key))
    body = data(response)
    assert (response.status_code, body["code"]) == (402, "insufficient_credits")
    assert (body["required_usd"], body["balance_usd"]) == (Decimal("0.006149"), 0)
    assert count(db_session, "jobs") == 0 and count(db_session, "ledger_transactions") == 0
