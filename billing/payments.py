"""What the chain checks of an x402 payment share: refusals, the verified result, signatures."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3


class PaymentRefused(Exception):
    """A payment that does not pay for this request; `code` says which check failed."""

    def __init__(self, code: str, message: str, hint: str = "", status: int = 402):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status


@dataclass(frozen=True)
class Verified:
    """A payment that passed every check: who paid how much, in which transaction."""

    scheme: str  # proof | exact
    payer: str  # checksummed
    amount: int  # USDC base units = micro-USD
    tx_hash: str  # lower-case 0x-hex; for "exact", set once the authorization is settled
    auth_nonce: str | None = None


def request_digest(method: str, path: str, body: bytes) -> str:
    """The SHA-256 (hex) of the request a wallet signs: method, path and body bytes."""
    return hashlib.sha256(f"{method.upper()} {path}\n".encode() + body).hexdigest()


def proof_message(tx_hash: str, digest: str) -> str:
    """The text `from` signs (EIP-191) to bind a transaction proof to one request."""
    return f"GPU-Bridge x402 payment\ntx: {tx_hash.lower()}\nrequest: {digest}"


def wallet_message(timestamp: int, nonce: str, digest: str) -> str:
    """The text a wallet signs (EIP-191) to spend its credit on one request."""
    return f"GPU-Bridge wallet request\ntime: {timestamp}\nnonce: {nonce}\nrequest: {digest}"


def signed_by(message: str, signature: str, address: str) -> bool:
    """True when `signature` is `address`'s EIP-191 personal signature of `message`."""
    try:
        signer = Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # malformed signatures of every kind are simply not valid
        return False
    return signer == Web3.to_checksum_address(address)


def checksum(value, field: str) -> str:
    """A checksummed address from the client, or a refusal naming the field."""
    if not isinstance(value, str) or not Web3.is_address(value):
        raise PaymentRefused("invalid_payment", f"'{field}' is not an address.",
                             "Send a 0x-prefixed 20-byte hex address.", status=400)
    return Web3.to_checksum_address(value)
