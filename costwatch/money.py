"""Money as text: the one place that turns exact decimals into strings for people and machines.

Pages, charts, the CSV, the API, notifications and commands all format through here. Amounts stay
exact ``Decimal`` values until this last step; rounding happens only for display, and the exact
value is always available beside it (``format_usd_exact``: a cell's hover title and the CSV). A cost
that is unknown because nothing that made it was priced is ``None`` and reads "unpriced", never
"$0.00".

For people: ``format_usd`` ("$1,234.56", rounded half up, never "-$0.00") and ``format_usd_exact``
("$0.003458"). For machines: ``decimal_json`` (API fields and payloads: "0.003458", None when
unknown), ``decimal_string`` (CSV cells: "" when unknown) and ``decimal_text`` (an amount already
rounded to its own places, kept as it is: "12.345600").

A column of amounts shows one number of decimals on every row (``column_decimals``): at least two,
and enough for the smallest non-zero amount in it to keep two significant digits
($0.003458 next to $0.0106 → 4 decimals: "$0.0035", "$0.0106").
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import overload

UNPRICED = "unpriced"
MIN_DECIMALS = 2
MAX_DECIMALS = 10  # the stored precision of call costs is 12 places; beyond 10 nobody reads it
SIGNIFICANT = 2


def column_decimals(values: Iterable[Decimal | None], *, significant: int = SIGNIFICANT) -> int:
    """Decimals for a column of USD amounts: the smallest non-zero |value| keeps ``significant`` digits.

    None (unpriced) and zero do not count. Returns MIN_DECIMALS (2) for a column without a non-zero
    amount, never more than MAX_DECIMALS (10).
    """
    nonzero = [abs(Decimal(v)) for v in values if v is not None and Decimal(v) != 0]
    if not nonzero:
        return MIN_DECIMALS
    smallest = min(nonzero)
    # adjusted() is the exponent of the first significant digit: 0.003458 → -3.
    needed = -smallest.adjusted() + significant - 1
    return max(MIN_DECIMALS, min(MAX_DECIMALS, needed))


def format_usd(value: Decimal | None, decimals: int | None = None) -> str:
    """ "$1,234.56" with ``decimals`` places (default: what the value alone needs); None → "unpriced"."""
    if value is None:
        return UNPRICED
    value = Decimal(value)
    places = column_decimals([value]) if decimals is None else decimals
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-$0.00"
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{places}f}"


def _exact(value: Decimal) -> str:
    """Every digit of ``value`` and no trailing zeros, never in exponent form; zero is "0"."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in {"0", "-0"} else text


def format_usd_exact(value: Decimal | None) -> str:
    """The exact stored amount, without rounding or trailing zeros ("$0.003458"); None → "unpriced"."""
    if value is None:
        return UNPRICED
    text = _exact(value)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def decimal_json(value: Decimal | None) -> str | None:
    """The exact amount for JSON (API fields, notification payloads): "0.003458"; None when unknown.

    Not only USD: per-million-token prices, a bill in its own currency and percentages are
    written the same way.
    """
    return None if value is None else _exact(value)


def decimal_string(value: Decimal | None) -> str:
    """The exact amount for a CSV cell: "0.003458", "" when unknown."""
    return "" if value is None else _exact(value)


@overload
def decimal_text(value: Decimal) -> str: ...
@overload
def decimal_text(value: None) -> None: ...
@overload
def decimal_text(value: Decimal | None) -> str | None: ...
def decimal_text(value: Decimal | None) -> str | None:
    """An amount already rounded to its places, as it is ("12.345600", "0"); None when unknown.

    For estimates that are rounded to a fixed number of places before they are shown (the savings
    advisor's), so every figure of a report carries the same places.
    """
    return None if value is None else format(value, "f")
