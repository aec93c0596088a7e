"""The standard x402 "exact" scheme: the official `x402` client pays us on the test chain."""
import base64
import json
import threading

import pytest
from eth_account import Account
from sqlalchemy import text
from werkzeug.serving import make_server

from billing import ledger
from tests.helpers import counts
from tests.integration.conftest import wait_for
from tests.integration.x402.conftest import payment_header

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}
PRICE = 10_000


@pytest.fixture
def served(paid_app, db_session):
    """The paid app on a real HTTP port (the x402 client speaks HTTP through requests)."""
    server = make_server("127.0.0.1", 0, paid_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _client(chain, payer):
    """The official client, told to trust the test token (it pays only known assets)."""
    from x402 import x402ClientSync
    from x402.mechanisms.evm.exact.register import register_exact_evm_client

    client = x402ClientSync().set_spend_controls({"allowed_assets": [
        {"network": "base-sepolia", "asset": chain.usdc.address,
         "max_amount_per_payment": "1000000"}]})
    return register_exact_evm_client(client, payer)


def _x402_session(chain, payer):
    from x402.http.clients import x402_requests

    return x402_requests(_client(chain, payer))


def _signed_payment(chain, payer, served_url, paid_client) -> dict:
    """What the official client sends in X-Payment for this request (decoded)."""
    from x402.schemas.v1 import PaymentRequiredV1

    required = PaymentRequiredV1.model_validate(paid_client.post("/run", json=EMBED).get_json())
    return _client(chain, payer).create_payment_payload(required).model_dump(by_alias=True)


def test_official_x402_client_pays_for_a_job_end_to_end(served, paid_client, chain,
                                                        db_session, worker):
    payer = chain.new_payer(1_000_000)
    settler_before = chain.usdc.functions.balanceOf(chain.pay_to).call()
    response = _x402_session(chain, payer).post(f"{served}/run", json=EMBED, timeout=60)
    assert response.status_code == 202, response.text
    settled = json.loads(base64.b64decode(response.headers["X-PAYMENT-RESPONSE"]))
    assert settled["success"] is True and settled["payer"] == payer.address
    receipt = chain.w3.eth.get_transaction_receipt(settled["transaction"])
    assert receipt.status == 1 and receipt["from"] == chain.settler.address
    assert chain.usdc.functions.balanceOf(chain.pay_to).call() == settler_before + PRICE
    assert chain.usdc.functions.balanceOf(payer.address).call() == 1_000_000 - PRICE
    job_id = response.json()["job_id"]
    done = wait_for(lambda: (lambda s: s if s["settled"] else None)(
        paid_client.get(f"/status/{job_id}").get_json()))
    assert done["status"] == "completed", done
    assert len(done["output"]["embeddings"][0]) == 384
    account_id = db_session.execute(text("SELECT id FROM accounts WHERE wallet_address = :a"),
                                    {"a": payer.address}).scalar_one()
    assert ledger.balance(db_session, account_id, "held") == 0
    assert ledger.check(db_session) == []


def _refused(paid_client, db_session, payment: dict, status: int, code: str):
    before = counts(db_session)
    response = paid_client.post("/run", json=EMBED, headers=payment_header(payment))
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code
    assert counts(db_session) == before


def test_exact_refusals(served, paid_client, chain, db_session, monkeypatch):
    # The accepted job stays queued: a worker settling it meanwhile would add ledger rows
    # between the counts taken around the refused replay of its payment.
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)
    payer = chain.new_payer(1_000_000)
    good = _signed_payment(chain, payer, served, paid_client)
    forged = json.loads(json.dumps(good))
    forged["payload"]["authorization"]["value"] = str(PRICE * 100)  # no longer what was signed
    _refused(paid_client, db_session, forged, 402, "payment_bad_signature")
    elsewhere = json.loads(json.dumps(good))
    elsewhere["payload"]["authorization"]["to"] = Account.create().address
    _refused(paid_client, db_session, elsewhere, 402, "payment_wrong_recipient")
    late = json.loads(json.dumps(good))
    late["payload"]["authorization"]["validBefore"] = "1"
    _refused(paid_client, db_session, late, 402, "payment_too_old")
    response = paid_client.post("/run", json=EMBED, headers=payment_header(good))
    assert response.status_code == 202, response.get_json()
    _refused(paid_client, db_session, good, 409, "payment_already_used")


def test_exact_from_a_sanctioned_wallet_is_not_settled(served, paid_client, chain, db_session):
    payer = chain.new_payer(1_000_000)
    payment = _signed_payment(chain, payer, served, paid_client)
    chain.sanction(payer.address)
    _refused(paid_client, db_session, payment, 403, "payer_sanctioned")
    assert chain.usdc.functions.balanceOf(payer.address).call() == 1_000_000
