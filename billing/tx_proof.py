"""Transaction proofs: the client paid first, then sends {"txHash", "from"[, "signature"]}.

Every check reads the chain: the receipt succeeded, it carries a Transfer of the configured
USDC from `from` to payTo worth at least the price, it has its confirmations, and it is recent.
Uniqueness of the hash is the database's job (x402_payments.tx_hash).
"""
from __future__ import annotations

import re

from web3.exceptions import TransactionNotFound

from .chain import Chain, confirmations_needed, transfers_in
from .payments import PaymentRefused, Verified, checksum, proof_message, signed_by

TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def verify_proof(chain: Chain, proof: dict, required: int, digest: str) -> Verified:
    """Check a transaction proof for a request costing `required`; raises PaymentRefused."""
    tx_hash, payer = _parse(proof)
    _check_signature(chain, proof, tx_hash, payer, digest)
    receipt = _receipt(chain, tx_hash)
    amount = _paid(chain, receipt, payer, required)
    needed = confirmations_needed(amount)
    have = chain.confirmations(receipt["blockNumber"])
    if have < needed:
        raise PaymentRefused("payment_unconfirmed",
                             f"The transaction has {have} of the {needed} confirmations needed.",
                             "Retry the same request once the transaction has more blocks.")
    age = chain.now() - chain.w3.eth.get_block(receipt["blockNumber"]).timestamp
    if age > chain.config.max_age_seconds:
        raise PaymentRefused("payment_too_old",
                             f"The transfer is {age} s old; proofs are taken for "
                             f"{chain.config.max_age_seconds} s.",
                             "Send a new payment and use it right away.")
    return Verified("proof", payer, amount, tx_hash)


def _parse(proof: dict) -> tuple[str, str]:
    tx_hash = proof.get("txHash")
    if not isinstance(tx_hash, str) or not TX_HASH.match(tx_hash):
        raise PaymentRefused("invalid_payment", "'txHash' is not a transaction hash.",
                             "Send the 0x-prefixed 32-byte hash of your USDC transfer.",
                             status=400)
    return tx_hash.lower(), checksum(proof.get("from"), "from")


def _check_signature(chain: Chain, proof: dict, tx_hash: str, payer: str, digest: str) -> None:
    signature = proof.get("signature")
    if signature is None and not chain.config.require_signature:
        return
    if not isinstance(signature, str) or not signed_by(proof_message(tx_hash, digest),
                                                       signature, payer):
        raise PaymentRefused("payment_bad_signature",
                             "The proof's signature is missing or not by 'from'.",
                             "Sign the proof text (EIP-191 personal_sign) with the paying "
                             "wallet; see the README's x402 section.")


def _receipt(chain: Chain, tx_hash: str):
    try:
        return chain.w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        raise PaymentRefused("payment_tx_not_found",
                             f"No mined transaction {tx_hash} on {chain.config.network}.",
                             "Check the hash and the network; retry once it is mined.") from None


def _paid(chain: Chain, receipt, payer: str, required: int) -> int:
    """The USDC `payer` sent to payTo in the transaction; refuses what does not pay."""
    if receipt["status"] != 1:
        raise PaymentRefused("payment_tx_failed", "The transaction failed (reverted).",
                             "Send a new transfer that succeeds.")
    sent = [t for t in transfers_in(receipt["logs"]) if t.sender == payer]
    usdc = [t for t in sent if t.token == chain.config.usdc]
    if not usdc:
        raise PaymentRefused("payment_wrong_token",
                             f"The transaction moves no USDC ({chain.config.usdc}) from "
                             f"{payer}.", "Pay with the asset named in the 402 answer.")
    amount = sum(t.value for t in usdc if t.recipient == chain.config.pay_to)
    if not amount:
        raise PaymentRefused("payment_wrong_recipient",
                             f"The USDC went elsewhere, not to {chain.config.pay_to}.",
                             "Pay to the payTo address of the 402 answer.")
    if amount < required:
        raise PaymentRefused("payment_too_little",
                             f"The transfer is {amount} base units; this request needs "
                             f"{required}.", "Pay at least maxAmountRequired.",
                             )
    return amount
