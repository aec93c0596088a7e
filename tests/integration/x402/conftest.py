"""The test chain and an app that takes USDC on it.

The chain is eth-tester (py-evm) in this process, reached over HTTP JSON-RPC served from a
thread (tests/chain/rpc.py), so the app's code talks to it exactly as to a node: through
X402_RPC_URL. It is session-wide; a test that must move the chain's clock takes `fresh_chain`.
"""
from __future__ import annotations

import base64
import json

import pytest

from tests.needs import require_module


def start_chain():
    """Start the test chain (skips where eth-tester is missing, fails under CI)."""
    require_module("eth_tester")
    from tests.chain.deploy import deploy
    from tests.chain.rpc import TesterChain

    node = TesterChain().start()
    deployed = deploy(node.url)
    deployed.node = node
    return deployed


def chain_config(chain) -> dict:
    """The app settings that point x402 at `chain`."""
    from tests.chain.rpc import CHAIN_ID

    return {"X402_RPC_URL": chain.node.url, "X402_CHAIN_ID": CHAIN_ID,
            "X402_NETWORK": "base-sepolia", "X402_USDC_ADDRESS": chain.usdc.address,
            "X402_PAY_TO": chain.pay_to, "X402_SANCTIONS_ORACLE": chain.oracle.address,
            "X402_SETTLER_KEY": chain.settler.key.to_0x_hex()}


def chain_env(chain) -> dict:
    """The same settings as environment variables, for API processes started apart."""
    config = chain_config(chain)
    env = {name: str(value) for name, value in config.items() if name != "X402_NETWORK"}
    return {**env, "GPUBRIDGE_X402_NETWORK": config["X402_NETWORK"]}


@pytest.fixture(scope="session")
def chain():
    """A running chain with the test USDC and sanctions oracle deployed."""
    deployed = start_chain()
    yield deployed
    deployed.node.stop()


@pytest.fixture
def fresh_chain():
    """A chain of this test's own (for tests that move its clock)."""
    deployed = start_chain()
    yield deployed
    deployed.node.stop()


@pytest.fixture(scope="session")
def paid_app(test_env, chain):
    """The app with x402 on, paid on the test chain."""
    from app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
        "REDIS_URL": test_env["REDIS_URL"], "CELERY_BROKER_URL": test_env["REDIS_URL"],
        "ALLOW_PRIVATE_URLS": True, "TESTING": True, **chain_config(chain),
    })


@pytest.fixture
def paid_client(paid_app, db_session):
    return paid_app.test_client()


def payment_header(payment: dict) -> dict:
    return {"X-Payment": base64.b64encode(json.dumps(payment).encode()).decode()}
