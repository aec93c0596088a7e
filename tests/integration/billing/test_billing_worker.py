"""The billing worker process settles jobs and charges an auto top-up once, off-session."""
from decimal import Decimal

from sqlalchemy import text

from billing import ledger
from tests.helpers import auth, data, grant, register
from tests.integration.conftest import wait_for

from .conftest import LLM, count


def test_settlements_in_the_worker_charge_the_saved_card_once(app, client, db_session, worker,
                                                               stripe_api, fake_backend):
    key = register(client, "worker-auto@example.com")
    grant(app, "worker-auto@example.com", "1")
    db_session.execute(text("UPDATE accounts SET stripe_customer_id = 'cus_w', "
                            "stripe_payment_method_id = 'pm_w'"))  # as a card top-up saves
    db_session.commit()
    assert client.post("/account/auto-topup", json={"threshold": 20, "amount": 25},
                       headers=auth(key)).status_code == 200
    # The worker process has no LLM backend configured: each job fails and is refunded in
    # full, and each settlement finds the balance ($1) under the $20 threshold.
    for _ in range(3):
        assert client.post("/run", json=LLM, headers=auth(key)).status_code == 202
    wait_for(lambda: count(db_session, "jobs WHERE settled_at IS NULL") == 0
             and count(db_session, "auto_topups WHERE status = 'succeeded'") == 1)
    db_session.commit()
    assert count(db_session, "auto_topups") == 1
    charges = [p for p in stripe_api.payment_intents_created() if p["customer"] == "cus_w"]
    assert len({p["payment_method"] for p in charges}) == 1 and charges[0]["amount"] == "2500"
    assert (charges[0]["off_session"], charges[0]["confirm"]) == ("true", "true")
    balance = data(client.get("/account/balance", headers=auth(key)))
    assert balance["balance"] == Decimal("26") and balance["held"] == 0
    assert ledger.check(db_session) == []
