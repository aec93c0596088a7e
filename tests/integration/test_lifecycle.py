"""Cancel, deadlines, Prefer: wait, the live status, the SSE stream and retention."""
import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime

import pytest
from flask import g
from sqlalchemy import text

from app import lifecycle, retention
from app.catalog import load_catalog
from billing import ledger
from billing.settlement import settle_job
from providers.base import RetryableProviderError
from providers.router import RetryPolicy
from tests.helpers import auth, counts, data, grant, register, settled
from tests.integration.conftest import wait_for
from tests.needs import require_module
from workers import execute

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}


@pytest.fixture
def held_back(monkeypatch):
    """The broker never delivers: jobs stay queued (as when it is slow or down)."""
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)


def _account(app, client, email, amount="1"):
    require_module("tokenizers")
    key = register(client, email)
    grant(app, email, amount)
    return key


def test_cancel_while_queued_refunds_in_full(app, client, db_session, held_back):
    key = _account(app, client, "cancel@example.com")
    job_id = client.post("/run", json=EMBED, headers=auth(key)).get_json()["job_id"]
    queued = data(client.get(f"/status/{job_id}"))
    assert queued["status"] == "queued" and queued["queue_position"] == 1
    assert queued["urls"]["cancel"].endswith(f"/cancel/{job_id}")
    assert data(client.get("/account/balance", headers=auth(key)))["held"] == Decimal("0.01")

    response = client.post(f"/cancel/{job_id}", headers=auth(key))
    assert response.status_code == 200, response.get_json()
    body = data(response)
    assert body["status"] == "cancelled" and body["error"]["code"] == "cancelled"
    assert body["cost"] == {"estimated_usd": Decimal("0.01"), "actual_usd": 0,
                            "refunded_usd": Decimal("0.01"), "discount_usd": 0,
                            "discount_percent": 0}
    balance = data(client.get("/account/balance", headers=auth(key)))
    assert (balance["balance"], balance["held"]) == (Decimal("1"), 0)
    assert client.post(f"/cancel/{job_id}", headers=auth(key)).status_code == 200  # idempotent
    assert ledger.check(db_session) == []


def test_cancel_needs_the_owner(app, client, db_session, held_back):
    key = _account(app, client, "owner@example.com")
    job_id = client.post("/run", json=EMBED, headers=auth(key)).get_json()["job_id"]
    other = register(client, "intruder@example.com")
    g.pop("account", None)  # the fixture's app context outlives requests; forget the last key
    assert client.post(f"/cancel/{job_id}", headers=auth(other)).status_code == 404
    g.pop("account", None)
    assert client.post(f"/cancel/{job_id}").status_code == 401
    assert data(client.get(f"/status/{job_id}"))["status"] == "queued"


class CancelledMidway:
    """A backend whose call fails once while the client cancels the job meanwhile."""

    def __init__(self, cancel):
        self.cancel = cancel
        self.calls = 0

    def availability(self, task):
        return None

    def run(self, call):
        self.calls += 1
        self.cancel()
        raise RetryableProviderError("upstream busy")


def test_cancel_while_running_stops_between_attempts_and_charges_nothing_unused(
        app, client, db_session, held_back):
    key = _account(app, client, "running@example.com")
    job_id = client.post("/run", json=EMBED, headers=auth(key)).get_json()["job_id"]
    claimed = execute.claim(db_session, uuid.UUID(job_id), 300, 3)
    answers = []
    backend = CancelledMidway(lambda: answers.append(
        client.post(f"/cancel/{job_id}", headers=auth(key)).status_code))
    ended = execute.execute(db_session, load_catalog(), {"local": backend}, claimed, 300,
                            RetryPolicy(attempts_per_backend=3, base_delay=0))
    assert (ended.status, answers, backend.calls) == ("cancelled", [202], 1)  # no 2nd attempt
    settle_job(db_session, load_catalog(), uuid.UUID(job_id))
    body = data(client.get(f"/status/{job_id}"))
    assert body["status"] == "cancelled" and body["cost_usd"] == 0
    assert [a["outcome"] for a in body["attempts"]] == ["retryable"]
    assert data(client.get("/account/balance", headers=auth(key)))["balance"] == Decimal("1")


def test_prefer_wait_returns_the_result_inline(app, client, db_session, worker):
    key = _account(app, client, "wait@example.com")
    response = client.post("/run", json=EMBED, headers={**auth(key), "Prefer": "wait=60"})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Preference-Applied"] == "wait=60"
    body = data(response)
    assert body["status"] == "completed" and len(body["output"]["embeddings"]) == 2


def test_prefer_wait_answers_202_when_the_job_is_not_done(app, client, db_session, held_back):
    key = _account(app, client, "slow@example.com")
    response = client.post("/run", json=EMBED, headers={**auth(key), "Prefer": "wait=1"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and body["status_url"].endswith(body["job_id"])


def test_the_202_points_at_the_public_base_url_as_the_status_does(app, client, db_session,
                                                                   held_back, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://api.example.com/")
    key = _account(app, client, "public@example.com")
    for headers in ({}, {"Idempotency-Key": "public-base"}):  # the two ways of writing a job
        accepted = data(client.post("/run", json=EMBED, headers={**auth(key), **headers}))
        status = data(client.get(f"/status/{accepted['job_id']}", headers=auth(key)))
        assert accepted["status_url"] == status["urls"]["get"] \
            == f"https://api.example.com/status/{accepted['job_id']}"


def test_a_past_deadline_aborts_the_job_and_charges_nothing(app, client, db_session, worker):
    key = _account(app, client, "deadline@example.com")
    past = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=1), usegmt=True)
    accepted = client.post("/run", json=EMBED, headers={**auth(key), "Cancel-After": past})
    assert accepted.status_code == 202
    job_id = accepted.get_json()["job_id"]
    done = wait_for(lambda: settled(client, job_id))
    assert done["status"] == "cancelled" and done["error"]["code"] == "deadline_exceeded"
    assert done["attempts"] == [] and done["cost_usd"] == 0
    assert done["refund_amount_usd"] == Decimal("0.01")
    assert data(client.get("/account/balance", headers=auth(key)))["balance"] == Decimal("1")


def test_the_sweep_aborts_queued_jobs_past_their_deadline(app, client, db_session, held_back):
    key = _account(app, client, "sweep@example.com")
    job_id = client.post("/run", json=EMBED, headers={**auth(key), "Cancel-After": "3600"}
                         ).get_json()["job_id"]
    assert lifecycle.abort_all_expired(db_session) == []
    db_session.execute(text("UPDATE jobs SET cancel_after = now() - interval '1 second'"))
    db_session.commit()
    assert lifecycle.abort_all_expired(db_session) == [uuid.UUID(job_id)]


def test_a_bad_cancel_after_is_refused_and_changes_nothing(app, client, db_session):
    key = _account(app, client, "badheader@example.com")
    before = counts(db_session)
    response = client.post("/run", json=EMBED, headers={**auth(key), "Cancel-After": "soon"})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_cancel_after"
    assert counts(db_session) == before


def test_the_stream_sends_status_events_until_the_job_ends(app, client, db_session, worker):
    key = _account(app, client, "stream@example.com")
    job_id = client.post("/run", json=EMBED, headers=auth(key)).get_json()["job_id"]
    response = client.get(f"/status/{job_id}/stream")
    assert response.mimetype == "text/event-stream"
    events = [block.split("\n", 1) for block in response.get_data(as_text=True).split("\n\n")
              if block]
    names = [name.removeprefix("event: ") for name, _ in events]
    assert names[-1] == "end" and set(names[:-1]) == {"status"}
    last = json.loads(events[-2][1].removeprefix("data: "))
    assert last["job_id"] == job_id and last["status"] == "completed"


def test_retention_removes_outputs_and_files_but_keeps_the_job_and_its_costs(
        app, client, db_session, worker):
    key = _account(app, client, "retain@example.com")
    job_id = client.post("/run", json=EMBED, headers=auth(key)).get_json()["job_id"]
    done = wait_for(lambda: settled(client, job_id))
    assert retention.purge_expired_outputs(db_session, 24) == 0  # not old enough yet
    db_session.execute(text("UPDATE jobs SET finished_at = now() - interval '25 hours'"))
    db_session.commit()
    assert retention.purge_expired_outputs(db_session, 24) == 1
    expired = data(client.get(f"/status/{job_id}"))
    assert expired["output"] is None and expired["output_expired"] is True
    assert expired["cost_usd"] == done["cost_usd"] and expired["status"] == "completed"
    assert retention.purge_expired_outputs(db_session, 24) == 0
