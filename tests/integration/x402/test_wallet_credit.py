"""A payer's wallet account: overpayment stays as credit, a signed request spends it, and a
failed x402 job is refunded to it."""
import base64
import json
import os
import time

from eth_account.messages import encode_defunct
from sqlalchemy import text

from billing import ledger
from billing.payments import request_digest, wallet_message
from tests.helpers import counts, data
from tests.integration.conftest import wait_for
from tests.integration.x402.conftest import payment_header

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}
PRICE = 10_000


def _wallet_headers(wallet, raw: bytes, stamp: int | None = None) -> dict:
    stamp = int(time.time()) if stamp is None else stamp
    nonce = os.urandom(8).hex()
    message = wallet_message(stamp, nonce, request_digest("POST", "/run", raw))
    signature = wallet.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    return {"X-Wallet-Address": wallet.address, "X-Wallet-Timestamp": str(stamp),
            "X-Wallet-Nonce": nonce, "X-Wallet-Signature": signature,
            "Content-Type": "application/json"}


def _wallet_account(db_session, address: str) -> int:
    return db_session.execute(text("SELECT id FROM accounts WHERE wallet_address = :a"),
                              {"a": address}).scalar_one()


def _pay(client, chain, payer, amount: int, body=EMBED):
    tx_hash = chain.send_usdc(payer, chain.pay_to, amount)
    response = client.post("/run", json=body,
                           headers=payment_header({"txHash": tx_hash, "from": payer.address}))
    assert response.status_code == 202, response.get_json()
    return data(response)["job_id"]


def test_deposit_once_then_spend_the_credit_by_signing(paid_client, chain, db_session,
                                                       jobs_stay_queued):
    payer = chain.new_payer()
    _pay(paid_client, chain, payer, 3 * PRICE)
    account_id = _wallet_account(db_session, payer.address)
    assert ledger.balance(db_session, account_id) == 2 * PRICE
    raw = json.dumps(EMBED).encode()
    for left in (PRICE, 0):
        response = paid_client.post("/run", data=raw, headers=_wallet_headers(payer, raw))
        assert response.status_code == 202, response.get_json()
        assert "X-PAYMENT-RESPONSE" not in response.headers  # no payment: credit spent
        assert ledger.balance(db_session, account_id) == left
    response = paid_client.post("/run", data=raw, headers=_wallet_headers(payer, raw))
    assert response.status_code == 402
    assert response.get_json()["code"] == "insufficient_credits"


def test_wallet_signature_is_checked_and_spends_once(paid_client, chain, db_session,
                                                    jobs_stay_queued):
    payer, other = chain.new_payer(), chain.new_payer()
    _pay(paid_client, chain, payer, 5 * PRICE)
    raw = json.dumps(EMBED).encode()
    forged = {**_wallet_headers(other, raw), "X-Wallet-Address": payer.address}
    stale = _wallet_headers(payer, raw, stamp=int(time.time()) - 3600)
    for headers in (forged, stale):
        before = counts(db_session)
        response = paid_client.post("/run", data=raw, headers=headers)
        assert response.status_code == 401, response.get_json()
        assert response.get_json()["code"] == "invalid_wallet_signature"
        assert counts(db_session) == before
    headers = _wallet_headers(payer, raw)
    assert paid_client.post("/run", data=raw, headers=headers).status_code == 202
    replay = paid_client.post("/run", data=raw, headers=headers)
    assert replay.status_code == 409 and replay.get_json()["code"] == "wallet_signature_used"


def test_failed_x402_job_is_refunded_as_wallet_credit(paid_client, chain, db_session, worker):
    payer = chain.new_payer()
    junk = "data:image/png;base64," + base64.b64encode(b"not an image").decode()
    body = {"service": "upscale-l4", "input": {"image_url": junk}}
    paid = 1_000_000
    job_id = _pay(paid_client, chain, payer, paid, body)
    done = wait_for(lambda: (lambda s: s if s["settled"] else None)(
        data(paid_client.get(f"/status/{job_id}"))))
    assert done["status"] == "failed" and done["cost_usd"] == 0 and done["refunded"] is True
    account_id = _wallet_account(db_session, payer.address)
    assert ledger.balance(db_session, account_id) == paid
    assert ledger.balance(db_session, account_id, "held") == 0
    assert ledger.check(db_session) == []
