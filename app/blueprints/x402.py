"""x402 answers (402 with X-Payment-Version) and USDC top-ups."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..payments import PaymentRequired

bp = Blueprint("x402", __name__)


@bp.app_errorhandler(PaymentRequired)
def _payment_required(exc: PaymentRequired):
    return jsonify(exc.body()), 402, {"X-Payment-Version": "1"}
