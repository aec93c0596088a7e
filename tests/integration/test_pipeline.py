"""The whole pipeline on real PostgreSQL, Redis and a Celery worker process."""
import uuid

from sqlalchemy import text

from billing import ledger
from decimal import Decimal

from tests.helpers import auth, data, grant, register, settled
from tests.integration.conftest import wait_for
from tests.needs import require_module

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}


def test_register_grant_run_completed_and_balance_exact(app, client, db_session, worker):
    require_module("tokenizers")
    key = register(client, "e2e@example.com")
    grant(app, "e2e@example.com", "2.50")
    accepted = client.post("/run", json=EMBED, headers=auth(key))
    assert accepted.status_code == 202, accepted.get_json()
    submitted = data(accepted)
    assert submitted["status"] == "queued"
    assert submitted["status_url"].endswith(f"/status/{submitted['job_id']}")
    estimate = submitted["estimated_cost_usd"]

    done = wait_for(lambda: settled(client, submitted["job_id"]))
    assert done["status"] == "completed", done
    vectors = done["output"]["embeddings"]
    assert len(vectors) == 2 and len(vectors[0]) == done["output"]["dimensions"] == 384
    assert vectors[0] != vectors[1]
    assert done["cost_usd"] + done["refund_amount_usd"] == estimate
    assert [a["outcome"] for a in done["attempts"]] == ["ok"]

    balance = data(client.get("/account/balance", headers=auth(key)))
    assert balance["balance"] == Decimal("2.50") - done["cost_usd"]
    assert balance["held"] == 0
    history = data(client.get("/account/jobs", headers=auth(key)))["jobs"]
    assert [(j["job_id"], j["cost_usd"], j["refund_amount_usd"]) for j in history] == \
        [(submitted["job_id"], done["cost_usd"], done["refund_amount_usd"])]
    assert ledger.check(db_session) == []


def test_duplicate_delivery_runs_and_charges_once(app, client, db_session, worker):
    require_module("tokenizers")
    key = register(client, "dup@example.com")
    grant(app, "dup@example.com", "1")
    job_id = client.post("/run", json=EMBED, headers=auth(key)).get_json()["job_id"]
    celery = app.extensions["celery"]
    for _ in range(2):  # the broker delivering the same job again, and a settle twice
        celery.send_task("workers.run_job", args=[job_id], queue="text")
        celery.send_task("workers.settle_job", args=[job_id], queue="billing")
    done = wait_for(lambda: settled(client, job_id))
    assert len(done["attempts"]) == 1
    kinds = db_session.execute(text(
        "SELECT kind, count(*) FROM ledger_transactions WHERE job_id = :id GROUP BY kind"),
        {"id": uuid.UUID(job_id)}).all()
    assert dict(kinds) == {"hold": 1, "capture": 1}
    assert ledger.check(db_session) == []
