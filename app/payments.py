"""x402 at the front door of POST /run: the 402 answer, X-Payment, wallet-signed requests.

A request with an API key never comes here. Without one: the input is validated and priced
first (bad input is still a 400), then the request is paid by an X-Payment header (a
transaction proof or an x402 "exact" authorization), by the credit of a wallet that signed it,
or answered 402 with what to pay. The chain work happens before the database transaction that
claims the payment, credits the wallet account, holds the estimate and writes the job.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import time

from flask import current_app, request
from requests import RequestException
from web3.exceptions import Web3RPCError

from billing import wallets
from billing.chain import Chain, ChainConfig
from billing.eip3009 import settle_exact, verify_exact
from billing.payments import (PaymentRefused, Verified, checksum, request_digest,
                              signed_by, wallet_message)
from billing.tx_proof import verify_proof

from .auth import bearer_token
from .errors import ApiError
from .extensions import db
from .jobs import Prepared, Submitted, prepare_job, submit_job

log = logging.getLogger(__name__)
PAYMENT_HEADER = "X-Payment"
RESPONSE_HEADER = "X-PAYMENT-RESPONSE"
WALLET_HEADERS = ("X-Wallet-Address", "X-Wallet-Timestamp", "X-Wallet-Nonce",
                  "X-Wallet-Signature")
WALLET_WINDOW_SECONDS = 300
CHAIN_ERRORS = (RequestException, Web3RPCError, TimeoutError)


class PaymentRequired(ApiError):
    """A 402 in the shared shape that is also an x402 v1 answer (sent with X-Payment-Version)."""


def x402_enabled() -> bool:
    return bool(current_app.config["X402_PAY_TO"])


def takes_x402() -> bool:
    """True when this /run is to be paid on chain: no API key, and x402 is on or in use."""
    if bearer_token() is not None:
        return False
    sent = PAYMENT_HEADER in request.headers or WALLET_HEADERS[0] in request.headers
    return x402_enabled() or sent


def get_chain() -> Chain:
    """The Chain of the current configuration, built once per configuration and process."""
    config = ChainConfig.from_app_config(current_app.config)
    chains = current_app.extensions.setdefault("x402_chains", {})
    if config not in chains:
        chains[config] = Chain(config)
    return chains[config]


def requirements(prepared: Prepared, config: ChainConfig) -> dict:
    """One x402 v1 `accepts[]` entry for this request."""
    return {
        "scheme": "exact", "network": config.network,
        "maxAmountRequired": str(prepared.cost), "resource": request.base_url,
        "description": f"GPU-Bridge {prepared.service.key}: {prepared.service.name}",
        "mimeType": "application/json", "payTo": config.pay_to,
        "maxTimeoutSeconds": config.max_timeout_seconds, "asset": config.usdc,
        "extra": {"name": config.token_name, "version": config.token_version},
    }


def payment_required(prepared: Prepared, config: ChainConfig, code: str, message: str,
                     hint: str) -> PaymentRequired:
    return PaymentRequired(402, code, message, hint, x402Version=1,
                           accepts=[requirements(prepared, config)])


def submit_paid(catalog, backends: dict, body, priority: str | None,
                lifecycle: dict | None = None) -> tuple[Submitted, dict]:
    """Validate, price and pay a keyless /run; the submitted job and extra response headers."""
    prepared = prepare_job(catalog, backends, body, priority)

    def write(account_id: int) -> Submitted:
        # Commits whatever this request already wrote (the payment's claim and credit)
        # together with the hold and the job, or rolls it all back.
        return submit_job(catalog, backends, account_id, body, priority, lifecycle=lifecycle)

    if not x402_enabled():
        raise ApiError(400, "x402_disabled", "This server takes no USDC payments.",
                       "Send Authorization: Bearer gpub_... (POST /account/register).")
    chain = get_chain()
    try:
        if WALLET_HEADERS[0] in request.headers:
            return write(_wallet_account(chain)), {}
        if PAYMENT_HEADER not in request.headers:
            raise payment_required(prepared, chain.config, "payment_required",
                                   "Payment required: pay with USDC (x402) or use an API key.",
                                   "Pay accepts[0] and retry with X-Payment, or send "
                                   "Authorization: Bearer gpub_...")
        return _pay(chain, prepared, _decode(request.headers[PAYMENT_HEADER]), write)
    except CHAIN_ERRORS as exc:
        log.warning("x402: the chain did not answer: %s", exc)
        raise ApiError(503, "chain_unavailable", "The payment could not be checked on chain.",
                       "Retry in a moment; your payment, if sent, is not lost.") from None
    except PaymentRefused as refused:
        if refused.status == 402:
            raise payment_required(prepared, chain.config, refused.code, refused.message,
                                   refused.hint) from None
        raise ApiError(refused.status, refused.code, refused.message, refused.hint) from None


def _decode(header: str) -> dict:
    try:
        payment = json.loads(base64.b64decode(header.strip(), validate=False))
    except (ValueError, binascii.Error):
        payment = None
    if not isinstance(payment, dict):
        raise PaymentRefused("invalid_payment", "X-Payment is not base64-encoded JSON.",
                             'Send base64({"txHash": "0x...", "from": "0x..."}) or an x402 '
                             "payment payload.", status=400)
    return payment


def _digest() -> str:
    return request_digest(request.method, request.path, request.get_data())


def _pay(chain: Chain, prepared: Prepared, payment: dict, write) -> tuple[Submitted, dict]:
    if "txHash" in payment:
        verified = verify_proof(chain, payment, prepared.cost, _digest())
        _screen(chain, verified.payer)
    else:
        verified = _settle(chain, verify_exact(chain, payment, prepared.cost))
    account_id = wallets.wallet_account(db.session, verified.payer)
    if not wallets.record_payment(db.session, verified, account_id):
        db.session.rollback()
        raise PaymentRefused("payment_already_used",
                             f"Transaction {verified.tx_hash} already paid for a job.",
                             "Each payment pays for one request; send a new one.", status=409)
    submitted = write(account_id)
    return submitted, {RESPONSE_HEADER: _payment_response(chain, verified)}


def _settle(chain: Chain, auth) -> Verified:
    _screen(chain, auth.payer)
    if wallets.nonce_used(db.session, auth.payer, auth.nonce):
        raise PaymentRefused("payment_already_used", "This authorization already paid here.",
                             "Sign a new authorization with a fresh nonce.", status=409)
    # One settler key, one nonce sequence: settlements from all API processes take turns.
    with current_app.extensions["redis"].lock("x402:settler", timeout=120,
                                              blocking_timeout=90):
        return settle_exact(chain, auth)


def _screen(chain: Chain, address: str) -> None:
    """Refuse a sanctioned payer (Chainalysis-style oracle), before any money moves here."""
    if chain.is_sanctioned(address):
        raise PaymentRefused("payer_sanctioned",
                             "The paying address is on the sanctions list.",
                             "This service cannot accept payments from this address.",
                             status=403)


def _payment_response(chain: Chain, verified: Verified) -> str:
    body = {"success": True, "transaction": verified.tx_hash, "network": chain.config.network,
            "payer": verified.payer}
    return base64.b64encode(json.dumps(body).encode()).decode()


def _wallet_account(chain: Chain) -> int:
    """The account of the wallet that signed this request (EIP-191), to spend its credit."""
    address, stamp, nonce, signature = (request.headers.get(name, "")
                                        for name in WALLET_HEADERS)
    address = checksum(address, WALLET_HEADERS[0])
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > WALLET_WINDOW_SECONDS or \
            not 8 <= len(nonce) <= 64 or \
            not signed_by(wallet_message(int(stamp), nonce, _digest()), signature, address):
        raise ApiError(401, "invalid_wallet_signature",
                       "The wallet signature is missing, stale or not by X-Wallet-Address.",
                       "Sign the request text (README, x402 section) with the wallet, with "
                       f"a fresh X-Wallet-Nonce; timestamps are good for "
                       f"{WALLET_WINDOW_SECONDS} s.")
    # A nonce spends once: a replayed request must not run (and charge) twice.
    fresh = current_app.extensions["redis"].set(f"x402:wallet-nonce:{address}:{nonce}", 1,
                                                nx=True, ex=2 * WALLET_WINDOW_SECONDS)
    if not fresh:
        raise ApiError(409, "wallet_signature_used", "This signed request was already run.",
                       "Sign each request with a new X-Wallet-Nonce.")
    _screen(chain, address)
    account_id = wallets.find_wallet_account(db.session, address)
    if account_id is None:
        raise ApiError(402, "insufficient_credits", "This wallet has no credit here.",
                       "Pay with X-Payment; what a payment exceeds the job by stays as credit.")
    return account_id
