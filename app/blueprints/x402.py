"""x402 answers (402 with X-Payment-Version) and USDC top-ups."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from billing import crypto_topup, topups
from billing.chain import confirmations_needed
from billing.money import usd

from ..auth import current_account
from ..errors import ApiError
from ..extensions import db
from ..payments import PaymentRequired, get_chain
from .jobs import json_body

bp = Blueprint("x402", __name__)


@bp.app_errorhandler(PaymentRequired)
def _payment_required(exc: PaymentRequired):
    return jsonify(exc.body()), 402, {"X-Payment-Version": "1"}


@bp.post("/account/topup-crypto")
def topup_crypto():
    account = current_account()
    body = json_body()
    key = body.get("package") if isinstance(body, dict) else None
    package = topups.PACKAGES.get(key) if isinstance(key, str) else None  # a list is unhashable
    if package is None:
        raise ApiError(400, "unknown_package", "Unknown top-up package.",
                       "Pick one of available_packages.", field="package",
                       available_packages=sorted(topups.PACKAGES))
    if not current_app.config["X402_PAY_TO"]:
        raise ApiError(503, "crypto_topup_unavailable", "This server takes no USDC.",
                       "Top up with a card at POST /account/topup.")
    chain = get_chain()
    deposit = crypto_topup.open_deposit(db.session, chain, account.id, package,
                                        current_app.config["CRYPTO_DEPOSIT_TTL_SECONDS"])
    config = chain.config
    return {
        "deposit_id": deposit.id, "package": package.key, "network": config.network,
        "chain_id": config.chain_id, "asset": config.usdc, "pay_to": config.pay_to,
        "amount": usd(deposit.amount), "amount_base_units": str(deposit.amount),
        "bonus_usd": usd(deposit.bonus), "credits_usd": usd(deposit.amount + deposit.bonus),
        "confirmations": confirmations_needed(deposit.amount),
        "expires_at": deposit.expires_at.isoformat(),
        "note": "Send exactly this amount of USDC to pay_to; it identifies your deposit. "
                "Credits arrive once the transfer has its confirmations.",
    }, 201
