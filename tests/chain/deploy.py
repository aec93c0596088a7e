"""Deploy the repo's compiled contracts (contracts/compiled/*.json) to a test chain."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

COMPILED = Path(__file__).resolve().parents[2] / "contracts" / "compiled"


def artifact(name: str) -> dict:
    return json.loads((COMPILED / f"{name}.json").read_text())


@dataclass
class Deployed:
    """The chain as tests see it: web3, the token, the oracle and funded keys."""

    w3: Web3
    usdc: object
    oracle: object
    owner: str  # deployer, minter and oracle owner (an unlocked eth-tester account)
    pay_to: str
    settler: LocalAccount

    def new_payer(self, usdc_micros: int = 100_000_000) -> LocalAccount:
        """A fresh wallet with gas money and `usdc_micros` of the test USDC."""
        payer = Account.create()
        self.fund_gas(payer.address)
        self.wait(self.usdc.functions.mint(payer.address, usdc_micros)
                  .transact({"from": self.owner}))
        return payer

    def fund_gas(self, address: str) -> None:
        self.wait(self.w3.eth.send_transaction(
            {"from": self.owner, "to": address, "value": 10**18}))

    def send_usdc(self, payer: LocalAccount, to: str, amount: int, token=None) -> str:
        """Sign and send an ERC-20 transfer from `payer`; the tx hash (mined)."""
        token = token or self.usdc
        tx = token.functions.transfer(to, amount).build_transaction(
            {"from": payer.address, "nonce": self.w3.eth.get_transaction_count(payer.address)})
        tx_hash = self.w3.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction)
        self.wait(tx_hash)
        return tx_hash.to_0x_hex()

    def sanction(self, address: str) -> None:
        self.wait(self.oracle.functions.addToSanctionsList([address])
                  .transact({"from": self.owner}))

    def wait(self, tx_hash):
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)

    def deploy_token(self):
        """Another USDC-like token (for the wrong-token refusal)."""
        return _deploy(self.w3, "TestUSDC", self.owner)


def _deploy(w3: Web3, name: str, owner: str):
    spec = artifact(name)
    tx_hash = w3.eth.contract(abi=spec["abi"], bytecode=spec["bytecode"]).constructor() \
        .transact({"from": owner})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    return w3.eth.contract(address=receipt.contractAddress, abi=spec["abi"])


def deploy(rpc_url: str) -> Deployed:
    """Deploy the token and the oracle; make a recipient and a funded settler key."""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    owner = w3.eth.accounts[0]
    deployed = Deployed(w3=w3, usdc=_deploy(w3, "TestUSDC", owner),
                        oracle=_deploy(w3, "SanctionsOracle", owner), owner=owner,
                        pay_to=Account.create().address, settler=Account.create())
    deployed.fund_gas(deployed.settler.address)
    return deployed
