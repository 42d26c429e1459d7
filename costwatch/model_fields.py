"""Precisions of stored decimal columns, typed so ``DecimalField(**MONEY)`` type-checks."""

from __future__ import annotations

from typing import TypedDict


class DecimalDigits(TypedDict):
    max_digits: int
    decimal_places: int


class NullableDigits(DecimalDigits):
    null: bool
    blank: bool


MONEY: DecimalDigits = {"max_digits": 24, "decimal_places": 12}  # USD amounts of calls, rollups, rules
# 18 decimals: genai-prices states prices such as 1.0399999999999998 per 1M tokens exactly.
PRICE_DIGITS: DecimalDigits = {"max_digits": 28, "decimal_places": 18}  # USD per million tokens, per unit
NULLABLE_PRICE: NullableDigits = {**PRICE_DIGITS, "null": True, "blank": True}  # a price the source may not state
