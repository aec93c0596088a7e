"""The test chain: eth-tester (py-evm) behind a JSON-RPC server in a thread of this process."""
from __future__ import annotations

import pytest

from tests.needs import require_module


@pytest.fixture(scope="session")
def chain():
    """A running chain with the test USDC and sanctions oracle deployed."""
    require_module("eth_tester")
    from tests.chain.deploy import deploy
    from tests.chain.rpc import TesterChain

    node = TesterChain().start()
    try:
        deployed = deploy(node.url)
        deployed.node = node
        yield deployed
    finally:
        node.stop()
