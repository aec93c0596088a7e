"""USDC top-ups: the exact amount identifies the deposit; the watcher credits it once."""
import threading

from sqlalchemy import text

from billing import ledger
from billing.money import parse_usd
from tests.helpers import auth, data, register
from tests.integration.x402.conftest import payment_header
from workers.tasks import watch_crypto_deposits


def _watch(paid_app) -> list[int]:
    """One run of the beat task's body, in a fresh app context as a worker runs it."""
    with paid_app.app_context():
        return watch_crypto_deposits.run()


def _account(db_session, email: str) -> int:
    return db_session.execute(text("SELECT id FROM accounts WHERE email = :e"),
                              {"e": email}).scalar_one()


def _ask(paid_client, key: str, package: str):
    response = paid_client.post("/account/topup-crypto", json={"package": package},
                                headers=auth(key))
    assert response.status_code == 201, response.get_json()
    return data(response)


def test_topup_credited_once_with_its_bonus(paid_app, paid_client, chain, db_session):
    key = register(paid_client, "usdc@example.com")
    account_id = _account(db_session, "usdc@example.com")
    ask = _ask(paid_client, key, "credits_25")
    amount = int(ask["amount_base_units"])
    assert ask["pay_to"] == chain.pay_to and ask["asset"] == chain.usdc.address
    assert 25_000_000 < amount < 25_010_000 and parse_usd(ask["amount"]) == amount
    assert parse_usd(ask["bonus_usd"]) == 1_250_000 and ask["confirmations"] == 5
    other = _ask(paid_client, key, "credits_25")
    assert other["amount_base_units"] != ask["amount_base_units"]  # amounts tell them apart

    payer = chain.new_payer(30_000_000)
    tx_hash = chain.send_usdc(payer, chain.pay_to, amount)
    assert _watch(paid_app) == []  # 1 of 5 confirmations: not yet
    assert ledger.balance(db_session, account_id) == 0
    chain.node.mine(4)
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(_watch(paid_app)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs.append(_watch(paid_app))
    assert sorted(len(run) for run in runs) == [0, 0, 1]  # credited by exactly one run
    assert ledger.balance(db_session, account_id) == amount + 1_250_000
    assert ledger.check(db_session) == []
    balance = data(paid_client.get("/account/balance", headers=auth(key)))
    assert balance["balance"] == ask["credits_usd"]
    # Like a card top-up, it counts toward the volume discount (the bonus does not).
    assert parse_usd(str(balance["volume_discount"]["lifetime_topups_usd"])) == amount
    # The same transfer cannot also pay for a job as an x402 proof.
    response = paid_client.post("/run", json={"service": "embedding-l4", "input": {
        "text": "hi"}}, headers=payment_header({"txHash": tx_hash, "from": payer.address}))
    assert response.status_code == 409 and response.get_json()["code"] == "payment_already_used"


def test_a_wrong_amount_credits_nothing(paid_app, paid_client, chain, db_session):
    key = register(paid_client, "odd@example.com")
    ask = _ask(paid_client, key, "credits_50")
    payer = chain.new_payer(60_000_000)
    chain.send_usdc(payer, chain.pay_to, int(ask["amount_base_units"]) + 1)
    chain.node.mine(5)
    assert _watch(paid_app) == []
    assert ledger.balance(db_session, _account(db_session, "odd@example.com")) == 0


def test_topup_needs_a_key_and_a_known_package(paid_client, db_session):
    assert paid_client.post("/account/topup-crypto", json={"package": "credits_25"}) \
        .status_code == 401
    key = register(paid_client, "pkg@example.com")
    response = paid_client.post("/account/topup-crypto", json={"package": "credits_7"},
                                headers=auth(key))
    assert response.status_code == 400
    assert response.get_json()["available_packages"] == ["credits_100", "credits_25",
                                                         "credits_50"]


def test_a_sanctioned_sender_is_not_credited(paid_app, paid_client, chain, db_session):
    key = register(paid_client, "ofac@example.com")
    ask = _ask(paid_client, key, "credits_25")
    payer = chain.new_payer(30_000_000)
    chain.sanction(payer.address)
    chain.send_usdc(payer, chain.pay_to, int(ask["amount_base_units"]))
    chain.node.mine(5)
    assert _watch(paid_app) == []
    assert ledger.balance(db_session, _account(db_session, "ofac@example.com")) == 0
