"""The billing and x402 races again, against the API as 4 gunicorn worker processes.

Each process has its own connection pool and no memory shared with the others, so only
PostgreSQL can make the answers agree. The processes send jobs to a Redis database no worker
reads: the jobs stay queued, and these tests are about admission and money.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import text

from app.models import Account
from billing import ledger
from providers.emulator import Emulator
from tests.helpers import auth, free_port, grant, register
from tests.integration.billing.conftest import LLM, VISION, concurrently, count
from tests.integration.conftest import ROOT, stop, wait_for
from tests.integration.x402.conftest import chain_env, payment_header, start_chain
from tests.stripe_double import SECRET_KEY, WEBHOOK_SECRET, completed_event, sign

WORKERS = 4
BROKER_DB = 4  # read by no Celery worker, emptied before and after
EMBED = {"service": "embedding-l4", "input": {"text": ["hello", "world"]}}  # $0.01
HOOKS = Path(__file__).with_name("gunicorn_ready.py")


@dataclass
class Api:
    """The running gunicorn: its URL and its access log (`pid method path status` a line)."""

    url: str
    access_log: Path

    def post(self, path: str, **kwargs) -> requests.Response:
        with requests.Session() as session:  # one connection per call: threads share none
            session.trust_env = False  # straight to 127.0.0.1, whatever proxy is configured
            return session.post(self.url + path, timeout=60, **kwargs)

    def mark(self) -> int:
        return self.access_log.stat().st_size

    def pids(self, since: int, path: str, expected: int) -> set[str]:
        """The processes that answered the `expected` requests to `path` logged after `since`.

        gunicorn writes a request's line after the response went out, so poll for them all."""
        def logged():
            with self.access_log.open() as log:
                log.seek(since)
                lines = [line.split() for line in log]
            found = [fields[0] for fields in lines if len(fields) == 4 and fields[2] == path]
            return set(found) if len(found) >= expected else None
        return wait_for(logged, timeout=20)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def x402_chain():
    deployed = start_chain()
    yield deployed
    deployed.node.stop()


@pytest.fixture(scope="module")
def api(test_env, stripe_api, x402_chain, tmp_path_factory):
    """gunicorn with 4 sync workers, Groq on the provider emulator (so llm-4090 and llava-4090
    are offered), Stripe on its double and x402 on the test chain; up until every worker has
    loaded the app."""
    broker = test_env["REDIS_URL"].rsplit("/", 1)[0] + f"/{BROKER_DB}"
    redis.Redis.from_url(broker).flushdb()
    ready, logs = tmp_path_factory.mktemp("ready"), tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    with Emulator() as emulator, (logs / "stderr").open("w") as stderr:
        env = {**os.environ, **test_env, "CELERY_BROKER_URL": broker, **emulator.env(),
               "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "STRIPE_API_BASE": stripe_api.url, **chain_env(x402_chain),
               "RACES_READY_DIR": str(ready)}
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
             "--bind", f"127.0.0.1:{port}", "--config", str(HOOKS),
             "--access-logfile", str(logs / "access"),
             "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "app:create_app()"],
            cwd=ROOT, env=env, start_new_session=True, stdout=stderr, stderr=stderr)
        try:
            wait_for(lambda: process.poll() is not None
                     or (len(list(ready.iterdir())) == WORKERS and _accepts(port)))
            assert process.poll() is None, (logs / "stderr").read_text()
            (logs / "access").touch()
            yield Api(f"http://127.0.0.1:{port}", logs / "access")
        finally:
            stop(process)
            redis.Redis.from_url(broker).flushdb()


def _account_id(session, email: str) -> int:
    return session.query(Account.id).filter_by(email=email).scalar()


def _assert_sound(session) -> None:
    """The ledger balances, no balance is negative, and nothing ran the jobs."""
    session.expire_all()
    assert ledger.check(session) == []
    assert count(session, "jobs WHERE status <> 'queued'") == 0


def test_fifty_runs_with_one_key_on_four_processes_make_one_job(app, client, db_session, api):
    key = register(client, "mp-idem@example.com")
    grant(app, "mp-idem@example.com", "1")
    headers = {**auth(key), "Idempotency-Key": "mp-order-42"}
    mark = api.mark()
    responses = concurrently(50, lambda i: api.post("/run", json=LLM, headers=headers))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {202, 409}, statuses
    assert len({r.json()["job_id"] for r in responses if r.status_code == 202}) == 1
    assert count(db_session, "jobs") == 1
    assert count(db_session, "ledger_transactions WHERE kind = 'hold'") == 1
    assert ledger.balance(db_session, _account_id(db_session, "mp-idem@example.com")) == 997_000
    assert len(api.pids(mark, "/run", 50)) >= 2  # the race did cross processes
    _assert_sound(db_session)


def test_ten_cents_admit_exactly_33_jobs_across_processes(app, client, db_session, api):
    key = register(client, "mp-race@example.com")
    grant(app, "mp-race@example.com", "0.10")
    mark = api.mark()
    responses = concurrently(100, lambda i: api.post("/run", json=LLM, headers=auth(key)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 33, 402: 67}, statuses  # 33 x $0.003 = $0.099 <= $0.10
    account_id = _account_id(db_session, "mp-race@example.com")
    assert ledger.balance(db_session, account_id) == 1_000
    assert ledger.balance(db_session, account_id, "held") == 99_000
    assert count(db_session, "jobs") == 33
    assert len(api.pids(mark, "/run", 100)) >= 2
    _assert_sound(db_session)


def test_the_daily_limit_holds_across_processes(app, client, db_session, api):
    key = register(client, "mp-limit@example.com")
    grant(app, "mp-limit@example.com", "10")
    limit = api.post("/account/spending-limit", json={"daily_limit_usd": 1}, headers=auth(key))
    assert limit.status_code == 200, limit.text
    mark = api.mark()
    responses = concurrently(40, lambda i: api.post("/run", json=VISION, headers=auth(key)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 20, 429: 20}, statuses  # 20 x $0.05 = the $1 limit
    assert {r.json()["code"] for r in responses if r.status_code == 429} == \
        {"daily_limit_exceeded"}
    assert db_session.execute(text("SELECT sum(hold_amount) FROM jobs")).scalar() == 1_000_000
    assert count(db_session, "ledger_transactions WHERE kind = 'hold'") == 20
    assert len(api.pids(mark, "/run", 40)) >= 2
    _assert_sound(db_session)


def test_one_stripe_event_delivered_five_times_at_once_is_credited_once(client, db_session,
                                                                        api, stripe_api):
    key = register(client, "mp-five@example.com")
    checkout = api.post("/account/topup", json={"package": "credits_25"}, headers=auth(key))
    assert checkout.status_code == 200, checkout.text
    params = [p for m, path, p in stripe_api.calls if path == "/v1/checkout/sessions"][-1]
    payload = completed_event(stripe_api.checkout_session(params), "evt_mp_five")
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload)}
    responses = concurrently(5, lambda i: api.post("/webhooks/stripe", data=payload,
                                                   headers=headers))
    assert [r.status_code for r in responses] == [200] * 5
    assert Counter(r.json()["outcome"] for r in responses) == {"credited": 1, "duplicate": 4}
    account_id = _account_id(db_session, "mp-five@example.com")
    assert ledger.balance(db_session, account_id) == 26_250_000  # $25 paid + 5% bonus
    assert count(db_session, "topups") == 1 and count(db_session, "stripe_events") == 1
    _assert_sound(db_session)


def test_one_tx_hash_sent_by_20_requests_across_processes_runs_one_job(db_session, api,
                                                                      x402_chain):
    payer = x402_chain.new_payer()
    tx_hash = x402_chain.send_usdc(payer, x402_chain.pay_to, 10_000)
    headers = payment_header({"txHash": tx_hash, "from": payer.address})
    mark = api.mark()
    responses = concurrently(20, lambda i: api.post("/run", json=EMBED, headers=headers))
    assert sorted(r.status_code for r in responses) == [202] + [409] * 19
    assert count(db_session, "jobs") == 1
    assert count(db_session, "ledger_transactions WHERE kind = 'x402_payment'") == 1
    assert len(api.pids(mark, "/run", 20)) >= 2
    _assert_sound(db_session)
