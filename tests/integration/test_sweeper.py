"""The database is the source of truth: lost messages and dying workers lose no job."""
import uuid

from sqlalchemy import text

from app.catalog import load_catalog
from billing.settlement import settle_job
from tests.helpers import auth, data, grant, register
from tests.integration.conftest import wait_for
from tests.needs import require_module
from workers.sweeper import sweep

EMBED = {"service": "embedding-l4", "input": {"text": "hello"}}


def test_a_job_whose_message_was_lost_is_resent_and_completes(app, client, db_session, worker,
                                                              monkeypatch):
    require_module("tokenizers")
    key = register(client, "lost@example.com")
    grant(app, "lost@example.com", "1")
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)  # the broker lost the message
    job_id = data(client.post("/run", json=EMBED, headers=auth(key)))["job_id"]
    assert data(client.get(f"/status/{job_id}"))["status"] == "queued"
    config = {**app.config, "REQUEUE_AFTER_SECONDS": 0}
    db_session.rollback()  # the sweep task starts its own transaction, so its now() is later
    sent = sweep(db_session, config, app.extensions["celery"])
    assert sent["rerun"] == 1
    done = wait_for(lambda: (b := data(client.get(f"/status/{job_id}")))["settled"] and b)
    assert done["status"] == "completed"


def test_a_job_that_keeps_killing_its_worker_fails_refunded(app, client, db_session, monkeypatch):
    key = register(client, "crash@example.com")
    grant(app, "crash@example.com", "1")
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)
    job_id = data(client.post("/run", json=EMBED, headers=auth(key)))["job_id"]
    # As if the last allowed delivery claimed it and then its worker died: the lease ran out.
    db_session.execute(text(
        "UPDATE jobs SET status = 'running', deliveries = :max, "
        "lease_expires_at = now() - interval '1 second' WHERE id = :id"),
        {"max": app.config["JOB_MAX_DELIVERIES"], "id": job_id})
    db_session.commit()
    sent = sweep(db_session, app.config, app.extensions["celery"])
    assert sent["failed"] == 1 and sent["rerun"] == 0
    settle_job(db_session, load_catalog(), uuid.UUID(job_id))
    body = data(client.get(f"/status/{job_id}"))
    assert body["status"] == "failed" and body["error"]["code"] == "worker_lost"
    assert body["cost_usd"] == 0 and body["refund_amount_usd"] == body["estimated_cost_usd"]
    assert data(client.get("/account/balance", headers=auth(key)))["balance"] == 1
