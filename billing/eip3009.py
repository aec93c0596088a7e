"""The standard x402 "exact" scheme on EVM: an EIP-3009 transferWithAuthorization, signed
with EIP-712 by the payer, that the server checks and then submits from its own key."""
from __future__ import annotations

import re
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.exceptions import TimeExhausted

from .chain import Chain
from .payments import PaymentRefused, Verified, checksum

NONCE = re.compile(r"^0x[0-9a-fA-F]{64}$")
SETTLE_MARGIN_SECONDS = 6  # an authorization about to expire might not make it into a block
AUTH_TYPES = {"TransferWithAuthorization": [
    {"name": "from", "type": "address"}, {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"}]}


@dataclass(frozen=True)
class Authorization:
    """A checked EIP-3009 authorization, ready to submit."""

    payer: str
    to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: str
    signature: str


def verify_exact(chain: Chain, payment: dict, required: int) -> Authorization:
    """Check an x402 v1 "exact" payload against this request; raises PaymentRefused."""
    auth = _parse(chain, payment)
    if auth.to != chain.config.pay_to:
        raise PaymentRefused("payment_wrong_recipient",
                             f"The authorization pays {auth.to}, not {chain.config.pay_to}.",
                             "Pay to the payTo address of the 402 answer.")
    if auth.value < required:
        raise PaymentRefused("payment_too_little",
                             f"The authorization is for {auth.value} base units; this request "
                             f"needs {required}.", "Authorize at least maxAmountRequired.")
    now = chain.now()
    if not auth.valid_after < now < auth.valid_before - SETTLE_MARGIN_SECONDS:
        raise PaymentRefused("payment_too_old",
                             "The authorization is not valid now (validAfter/validBefore).",
                             "Sign a new authorization valid from now on.")
    if _signer(chain, auth) != auth.payer:
        raise PaymentRefused("payment_bad_signature",
                             "The authorization is not signed by its 'from' address.",
                             "Sign TransferWithAuthorization with EIP-712 under the token's "
                             "domain (the 402 answer's extra.name and extra.version).")
    if chain.usdc.functions.authorizationState(auth.payer, auth.nonce).call():
        raise PaymentRefused("payment_already_used", "This authorization's nonce is used.",
                             "Sign a new authorization with a fresh nonce.", status=409)
    return auth


def _parse(chain: Chain, payment: dict) -> Authorization:
    if payment.get("scheme") != "exact" or payment.get("network") != chain.config.network:
        raise PaymentRefused("invalid_payment",
                             f"Only scheme 'exact' on '{chain.config.network}' is accepted.",
                             "Pay with one of the 402 answer's accepts[].", status=400)
    try:
        inner = payment["payload"]
        auth, signature = inner["authorization"], inner["signature"]
        values = {key: int(auth[key]) for key in ("value", "validAfter", "validBefore")}
        nonce = auth["nonce"]
        if not NONCE.match(nonce) or not isinstance(signature, str):
            raise ValueError(nonce)
    except (KeyError, TypeError, ValueError):
        raise PaymentRefused("invalid_payment", "The x402 payload is malformed.",
                             "Send payload.authorization and payload.signature as x402 v1 "
                             "'exact' defines them.", status=400) from None
    return Authorization(checksum(auth["from"], "authorization.from"),
                         checksum(auth["to"], "authorization.to"), values["value"],
                         values["validAfter"], values["validBefore"], nonce.lower(), signature)


def _signer(chain: Chain, auth: Authorization) -> str | None:
    typed = {
        "types": AUTH_TYPES, "primaryType": "TransferWithAuthorization",
        "domain": {"name": chain.config.token_name, "version": chain.config.token_version,
                   "chainId": chain.config.chain_id, "verifyingContract": chain.config.usdc},
        "message": {"from": auth.payer, "to": auth.to, "value": auth.value,
                    "validAfter": auth.valid_after, "validBefore": auth.valid_before,
                    "nonce": Web3.to_bytes(hexstr=auth.nonce)},
    }
    try:
        return Account.recover_message(encode_typed_data(full_message=typed),
                                       signature=auth.signature)
    except Exception:  # a malformed signature recovers nobody
        return None


def settle_exact(chain: Chain, auth: Authorization, timeout: int = 60) -> Verified:
    """Submit the authorization from the settler key and wait for it to be mined."""
    if not chain.config.settler_key:
        raise PaymentRefused("x402_exact_unavailable",
                             "This server cannot settle x402 'exact' payments.",
                             "Pay with a transaction proof instead.", status=503)
    settler = Account.from_key(chain.config.settler_key)
    call = chain.usdc.functions.transferWithAuthorization(
        auth.payer, auth.to, auth.value, auth.valid_after, auth.valid_before,
        Web3.to_bytes(hexstr=auth.nonce), Web3.to_bytes(hexstr=auth.signature))
    w3 = chain.w3
    try:
        tx = call.build_transaction({"from": settler.address, "chainId": chain.config.chain_id,
                                     "nonce": w3.eth.get_transaction_count(settler.address,
                                                                           "pending")})
    except Exception as exc:  # the estimate reverted: balance, nonce or window changed
        raise PaymentRefused("payment_tx_failed", f"The authorization would revert: {exc}",
                             "Check the payer's USDC balance and sign a new authorization.") \
            from None
    tx_hash = w3.eth.send_raw_transaction(settler.sign_transaction(tx).raw_transaction)
    try:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except TimeExhausted:
        raise PaymentRefused(
            "settlement_pending", f"The settlement {Web3.to_hex(tx_hash)} is not mined yet.",
            "Once it is mined, retry with the proof X-Payment: base64({\"txHash\": that "
            "hash, \"from\": your address}).", status=503) from None
    if receipt["status"] != 1:
        raise PaymentRefused("payment_tx_failed", "The settlement transaction reverted.",
                             "Sign a new authorization.")
    return Verified("exact", auth.payer, auth.value, Web3.to_hex(tx_hash).lower(), auth.nonce)
