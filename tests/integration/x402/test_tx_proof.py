"""Paying with a transaction proof: every refusal says why and changes nothing."""
import os
import threading

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import text

from billing import ledger
from billing.payments import proof_message, request_digest
from tests.helpers import counts, data
from tests.integration.x402.conftest import chain_config, payment_header

EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}
PRICE = 10_000  # embedding-l4: $0.01


def _run(client, proof: dict, body=EMBED):
    return client.post("/run", json=body, headers=payment_header(proof))


def _refused(client, db_session, proof: dict, status: int, code: str):
    before = counts(db_session)
    response = _run(client, proof)
    body = response.get_json()
    assert response.status_code == status, body
    assert body["code"] == code and body["error"] and body["hint"]
    assert counts(db_session) == before  # nothing charged, no job, so nothing queued
    return body


def _sign(payer, tx_hash: str, body=EMBED) -> str:
    import json
    digest = request_digest("POST", "/run", json.dumps(body).encode())
    message = encode_defunct(text=proof_message(tx_hash, digest))
    return payer.sign_message(message).signature.to_0x_hex()


def test_a_proof_pays_and_the_rest_stays_as_wallet_credit(paid_client, chain, db_session):
    payer = chain.new_payer()
    tx_hash = chain.send_usdc(payer, chain.pay_to, 250_000)
    response = _run(paid_client, {"txHash": tx_hash, "from": payer.address})
    assert response.status_code == 202, response.get_json()
    assert "X-PAYMENT-RESPONSE" in response.headers
    job_id = data(response)["job_id"]
    account_id = db_session.execute(text(
        "SELECT account_id FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
    assert db_session.execute(text("SELECT wallet_address FROM accounts WHERE id = :id"),
                              {"id": account_id}).scalar() == payer.address
    assert ledger.balance(db_session, account_id) == 250_000 - PRICE
    assert ledger.balance(db_session, account_id, "held") == PRICE
    assert ledger.check(db_session) == []


def test_unknown_tx(paid_client, chain, db_session):
    proof = {"txHash": "0x" + os.urandom(32).hex(), "from": Account.create().address}
    body = _refused(paid_client, db_session, proof, 402, "payment_tx_not_found")
    assert body["x402Version"] == 1 and body["accepts"]  # an x402 client can pay again


def test_failed_tx(paid_client, chain, db_session):
    payer = chain.new_payer(1_000)
    tx = chain.usdc.functions.transfer(chain.pay_to, 5_000_000).build_transaction(
        {"from": payer.address, "gas": 100_000,
         "nonce": chain.w3.eth.get_transaction_count(payer.address)})
    tx_hash = chain.w3.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction)
    assert chain.wait(tx_hash)["status"] == 0
    _refused(paid_client, db_session, {"txHash": tx_hash.to_0x_hex(), "from": payer.address},
             402, "payment_tx_failed")


def test_wrong_token(paid_client, chain, db_session):
    other = chain.deploy_token()
    payer = chain.new_payer()
    chain.wait(other.functions.mint(payer.address, 1_000_000).transact({"from": chain.owner}))
    tx_hash = chain.send_usdc(payer, chain.pay_to, 1_000_000, token=other)
    _refused(paid_client, db_session, {"txHash": tx_hash, "from": payer.address}, 402,
             "payment_wrong_token")


def test_wrong_recipient(paid_client, chain, db_session):
    payer = chain.new_payer()
    tx_hash = chain.send_usdc(payer, Account.create().address, 1_000_000)
    _refused(paid_client, db_session, {"txHash": tx_hash, "from": payer.address}, 402,
             "payment_wrong_recipient")


def test_too_little(paid_client, chain, db_session):
    payer = chain.new_payer()
    tx_hash = chain.send_usdc(payer, chain.pay_to, PRICE - 1)
    _refused(paid_client, db_session, {"txHash": tx_hash, "from": payer.address}, 402,
             "payment_too_little")


def test_too_few_confirmations_above_ten_dollars(paid_client, chain, db_session):
    payer = chain.new_payer(20_000_000)
    tx_hash = chain.send_usdc(payer, chain.pay_to, 10_000_001)
    proof = {"txHash": tx_hash, "from": payer.address}
    _refused(paid_client, db_session, proof, 402, "payment_unconfirmed")
    chain.node.mine(4)  # now 5 confirmations
    assert _run(paid_client, proof).status_code == 202


def test_too_old(paid_app, fresh_chain, db_session):
    saved = {key: paid_app.config[key] for key in chain_config(fresh_chain)}
    paid_app.config.update(chain_config(fresh_chain))
    try:
        payer = fresh_chain.new_payer()
        tx_hash = fresh_chain.send_usdc(payer, fresh_chain.pay_to, PRICE)
        fresh_chain.node.time_travel(301)
        _refused(paid_app.test_client(), db_session, {"txHash": tx_hash, "from": payer.address},
                 402, "payment_too_old")
    finally:
        paid_app.config.update(saved)


def test_already_used(paid_client, chain, db_session, monkeypatch):
    # The first job stays queued: a worker settling it would change the ledger under the
    # "nothing was written" check of the refused second use.
    monkeypatch.setattr("app.jobs.send_job", lambda job: None)
    payer = chain.new_payer()
    proof = {"txHash": chain.send_usdc(payer, chain.pay_to, PRICE), "from": payer.address}
    assert _run(paid_client, proof).status_code == 202
    _refused(paid_client, db_session, proof, 409, "payment_already_used")


def test_bad_signature(paid_client, chain, db_session):
    payer = chain.new_payer()
    tx_hash = chain.send_usdc(payer, chain.pay_to, PRICE)
    thief = Account.create()  # read the hash off the chain and signed it themselves
    proof = {"txHash": tx_hash, "from": payer.address, "signature": _sign(thief, tx_hash)}
    _refused(paid_client, db_session, proof, 402, "payment_bad_signature")
    proof["signature"] = _sign(payer, tx_hash)
    assert _run(paid_client, proof).status_code == 202


def test_signature_required_when_configured(paid_app, paid_client, chain, db_session):
    payer = chain.new_payer()
    tx_hash = chain.send_usdc(payer, chain.pay_to, PRICE)
    paid_app.config["X402_REQUIRE_SIGNATURE"] = True
    try:
        _refused(paid_client, db_session, {"txHash": tx_hash, "from": payer.address}, 402,
                 "payment_bad_signature")
    finally:
        paid_app.config["X402_REQUIRE_SIGNATURE"] = False


def test_sanctioned_sender(paid_client, chain, db_session):
    payer = chain.new_payer()
    tx_hash = chain.send_usdc(payer, chain.pay_to, PRICE)
    chain.sanction(payer.address)
    _refused(paid_client, db_session, {"txHash": tx_hash, "from": payer.address}, 403,
             "payer_sanctioned")


@pytest.mark.parametrize("header", ["not base64 at all!", "bnVsbA=="])  # "null"
def test_malformed_header_is_400(paid_client, db_session, header):
    response = paid_client.post("/run", json=EMBED, headers={"X-Payment": header})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_payment"


def test_one_hash_sent_by_20_requests_runs_one_job(paid_app, chain, db_session):
    payer = chain.new_payer()
    proof = {"txHash": chain.send_usdc(payer, chain.pay_to, PRICE), "from": payer.address}
    start, statuses = threading.Barrier(20), []

    def send():
        client = paid_app.test_client()
        start.wait()
        statuses.append(_run(client, proof).status_code)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202] + [409] * 19
    assert db_session.execute(text("SELECT count(*) FROM jobs")).scalar() == 1
    assert db_session.execute(text(
        "SELECT count(*) FROM ledger_transactions WHERE kind = 'x402_payment'")).scalar() == 1
    assert ledger.check(db_session) == []


def test_chain_unreachable_is_503_and_changes_nothing(paid_app, paid_client, db_session):
    import socket
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    saved = paid_app.config["X402_RPC_URL"]
    paid_app.config["X402_RPC_URL"] = dead
    try:
        proof = {"txHash": "0x" + "ab" * 32, "from": Account.create().address}
        _refused(paid_client, db_session, proof, 503, "chain_unavailable")
    finally:
        paid_app.config["X402_RPC_URL"] = saved
