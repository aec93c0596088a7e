"""Money is an integer count of micro-USD (1 = $0.000001 = one USDC base unit).

Decimal strings exist only at the edges: catalog.yaml and request bodies come in through
`parse_usd`, JSON goes out through `format_usd`. Floats are refused, never rounded.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation

MICRO_PER_USD = 1_000_000


class MoneyError(ValueError):
    """Raised when an amount is not an exact decimal count of micro-USD."""


MAX_MICROS = 2**63 - 1


def parse_usd(value: str | int | Decimal) -> int:
    """'0.003' -> 3000. Accepts str, int or Decimal; refuses floats and sub-micro precision."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"amounts must be decimal strings, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise MoneyError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    try:
        micros = amount * MICRO_PER_USD
        if micros != micros.to_integral_value():
            raise MoneyError(f"{value!r} is finer than one micro-dollar")
    except ArithmeticError as exc:  # 1e999999: past what Decimal's context can hold
        raise MoneyError(f"not an amount: {value!r}") from exc
    if abs(micros) > MAX_MICROS:  # the database stores micro-USD as BIGINT
        raise MoneyError(f"{value!r} is too large an amount")
    return int(micros)


def format_usd(micros: int) -> str:
    """3000 -> '0.003'; the shortest exact decimal string, for JSON output."""
    if not isinstance(micros, int) or isinstance(micros, bool):
        raise MoneyError("micro-USD amounts are ints")
    text = format(Decimal(micros).scaleb(-6), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up: a fraction of a micro-dollar is charged as one."""
    return -(-numerator // denominator)


def usd(micros: int) -> Decimal:
    """The exact Decimal dollars of `micros`; the JSON provider writes it as a JSON number."""
    if not isinstance(micros, int) or isinstance(micros, bool):
        raise MoneyError("micro-USD amounts are ints")
    return Decimal(format_usd(micros))


def duration_millis(seconds) -> int:
    """A duration in seconds (a JSON number or a decimal string) as whole milliseconds, rounded
    up. It goes through Decimal, so no binary fraction ever decides a charge."""
    try:
        value = Decimal(str(seconds))
    except InvalidOperation as exc:
        raise ValueError(f"not a duration: {seconds!r}") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a duration: {seconds!r}")
    return int((value * 1000).to_integral_value(rounding=ROUND_CEILING))
