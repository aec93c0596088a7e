"""The EVM chain USDC payments arrive on: web3 access, the token, the sanctions oracle.

Everything here reads the chain through one JSON-RPC URL (X402_RPC_URL); nothing depends on
Flask, so the API and the Celery top-up watcher share it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from eth_utils import keccak
from web3 import Web3

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
CONFIRMATIONS_SMALL, CONFIRMATIONS_LARGE = 1, 5
LARGE_PAYMENT = 10_000_000  # above $10 a transfer needs CONFIRMATIONS_LARGE blocks

_ADDR, _U256, _B32 = "address", "uint256", "bytes32"


def _inputs(*pairs):
    return [{"name": name, "type": kind} for name, kind in pairs]


_AUTH = (("from", _ADDR), ("to", _ADDR), ("value", _U256), ("validAfter", _U256),
         ("validBefore", _U256), ("nonce", _B32))
USDC_ABI = [
    {"type": "event", "name": "Transfer", "anonymous": False, "inputs": [
        {"name": "from", "type": _ADDR, "indexed": True},
        {"name": "to", "type": _ADDR, "indexed": True},
        {"name": "value", "type": _U256, "indexed": False}]},
    {"type": "function", "name": "balanceOf", "stateMutability": "view",
     "inputs": _inputs(("account", _ADDR)), "outputs": _inputs(("", _U256))},
    {"type": "function", "name": "authorizationState", "stateMutability": "view",
     "inputs": _inputs(("authorizer", _ADDR), ("nonce", _B32)), "outputs": _inputs(("", "bool"))},
    {"type": "function", "name": "transferWithAuthorization", "stateMutability": "nonpayable",
     "inputs": _inputs(*_AUTH, ("signature", "bytes")), "outputs": []},
]
ORACLE_ABI = [{"type": "function", "name": "isSanctioned", "stateMutability": "view",
               "inputs": _inputs(("addr", _ADDR)), "outputs": _inputs(("", "bool"))}]


@dataclass(frozen=True)
class ChainConfig:
    """Where and what: built from the app config's X402_* settings."""

    rpc_url: str
    chain_id: int
    network: str
    usdc: str
    pay_to: str | None
    oracle: str | None
    settler_key: str | None
    token_name: str
    token_version: str
    max_age_seconds: int
    max_timeout_seconds: int
    require_signature: bool

    @classmethod
    def from_app_config(cls, config) -> "ChainConfig":
        return cls(
            rpc_url=config["X402_RPC_URL"], chain_id=config["X402_CHAIN_ID"],
            network=config["X402_NETWORK"], usdc=Web3.to_checksum_address(
                config["X402_USDC_ADDRESS"]),
            pay_to=_checksum(config["X402_PAY_TO"]), oracle=_checksum(
                config["X402_SANCTIONS_ORACLE"]),
            settler_key=config["X402_SETTLER_KEY"], token_name=config["X402_TOKEN_NAME"],
            token_version=config["X402_TOKEN_VERSION"],
            max_age_seconds=config["X402_MAX_AGE_SECONDS"],
            max_timeout_seconds=config["X402_MAX_TIMEOUT_SECONDS"],
            require_signature=config["X402_REQUIRE_SIGNATURE"])


def _checksum(address: str | None) -> str | None:
    return Web3.to_checksum_address(address) if address else None


class Chain:
    """web3 bound to the configured chain, with the token and the oracle."""

    def __init__(self, config: ChainConfig):
        self.config = config
        self.w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 15}))
        self.usdc = self.w3.eth.contract(address=config.usdc, abi=USDC_ABI)

    def now(self) -> int:
        """Seconds since the epoch: the later of our clock and the latest block's."""
        return max(int(time.time()), self.w3.eth.get_block("latest").timestamp)

    def confirmations(self, block_number: int) -> int:
        return self.w3.eth.block_number - block_number + 1

    def is_sanctioned(self, address: str) -> bool | None:
        """The oracle's answer; None when no oracle is configured (development)."""
        if not self.config.oracle:
            return None
        oracle = self.w3.eth.contract(address=self.config.oracle, abi=ORACLE_ABI)
        return bool(oracle.functions.isSanctioned(Web3.to_checksum_address(address)).call())


def confirmations_needed(amount: int) -> int:
    """1 confirmation up to $10, 5 above: a larger payment waits out more reorg risk."""
    return CONFIRMATIONS_SMALL if amount <= LARGE_PAYMENT else CONFIRMATIONS_LARGE


@dataclass(frozen=True)
class UsdcTransfer:
    """One Transfer log of some ERC-20 token."""

    token: str
    sender: str
    recipient: str
    value: int
    block_number: int
    tx_hash: str


def transfers_in(logs) -> list[UsdcTransfer]:
    """The ERC-20 Transfer logs among raw `logs` (of any token)."""
    found = []
    for log in logs:
        topics = [Web3.to_hex(topic) for topic in log["topics"]]
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        data = Web3.to_bytes(hexstr=log["data"]) if isinstance(log["data"], str) \
            else bytes(log["data"])
        found.append(UsdcTransfer(
            token=Web3.to_checksum_address(log["address"]),
            sender=Web3.to_checksum_address("0x" + topics[1][-40:]),
            recipient=Web3.to_checksum_address("0x" + topics[2][-40:]),
            value=int.from_bytes(data[:32], "big"), block_number=log["blockNumber"],
            tx_hash=Web3.to_hex(log["transactionHash"]).lower()))
    return found
