"""Exact cost of one LLM call from its token counts and the price row in force.

Prices are USD (or ``PriceRow.currency``) per one million tokens. Money is ``Decimal`` end
to end: a ``PriceRow`` refuses floats with ``TypeError``, and every cost is computed exactly,
with no rounding (a computation that would need rounding raises ``decimal.Inexact``).
"""
from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from decimal import Decimal

_PER_MILLION = Decimal(1_000_000)
_MONEY_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "long_input",
    "long_output",
    "long_cache_read",
    "long_cache_write",
    "batch_discount",
)
_OPTIONAL_INT_FIELDS = ("long_context_threshold", "context_window", "max_output_tokens")


@dataclass(frozen=True)
class TokenCounts:
    """Token counts of one call, normalized so that one cost formula fits every provider.

    ``input`` excludes cache reads and writes; ``output`` includes reasoning tokens.
    """

    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    output: int = 0
    reasoning: int = 0

    @property
    def prompt_total(self) -> int:
        return self.input + self.cache_read + self.cache_write + self.cache_write_1h


def _exact() -> decimal.Context:
    """A context wide enough for any realistic call, that raises instead of rounding."""
    return decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])


def _to_decimal(name: str, value: object) -> Decimal:
    # bool is an int subclass; True as a price is always a bug.
    if isinstance(value, (float, bool)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value)
        except decimal.InvalidOperation:
            raise ValueError(f"{name} is not a number: {value!r}") from None
    else:
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name} must be finite, got {result}")
    if result < 0:
        raise ValueError(f"{name} must not be negative, got {result}")
    return result


@dataclass(frozen=True)
class PriceRow:
    """Prices of one model over one period, per million tokens.

    Money fields accept ``Decimal``, ``int`` or a numeric ``str`` (stored as ``Decimal``);
    floats raise ``TypeError``. Negative, NaN or infinite prices raise ``ValueError``.
    """

    provider: str
    model: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    long_context_threshold: int | None = None
    long_input: Decimal | None = None
    long_output: Decimal | None = None
    long_cache_read: Decimal | None = None
    long_cache_write: Decimal | None = None
    batch_discount: Decimal | None = None
    effective_from: date = date(2020, 1, 1)
    effective_until: date | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    currency: str = "USD"
    source_url: str = ""
    checked_on: date | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model must not be empty")
        for name in _MONEY_FIELDS:
            value = getattr(self, name)
            if value is None:
                if name in ("input", "output"):
                    raise ValueError(f"{name} price is required")
                continue
            object.__setattr__(self, name, _to_decimal(name, value))
        if self.batch_discount is not None and self.batch_discount > 1:
            raise ValueError(f"batch_discount is a fraction in [0, 1], got {self.batch_discount}")
        for name in _OPTIONAL_INT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        for name in ("effective_from", "effective_until", "checked_on"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
                raise TypeError(f"{name} must be a date, not {type(value).__name__}")
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise ValueError(
                f"effective_until ({self.effective_until}) must be after "
                f"effective_from ({self.effective_from})"
            )

    def in_force(self, at: date) -> bool:
        return self.effective_from <= at and (self.effective_until is None or at < self.effective_until)


@dataclass(frozen=True)
class CallCost:
    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    total: Decimal
    long_context: bool
    batch: bool


@dataclass(frozen=True)
class _Rates:
    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    output: Decimal


def _first(*prices: Decimal | None) -> Decimal:
    for price in prices:
        if price is not None:
            return price
    raise AssertionError("the last fallback is always a price")


def _is_long_context(counts: TokenCounts, price: PriceRow) -> bool:
    """True when the prompt is strictly above the row's long-context threshold."""
    threshold = price.long_context_threshold
    return threshold is not None and counts.prompt_total > threshold


def _rates(price: PriceRow, long_context: bool) -> _Rates:
    """Per-part prices with the documented fallbacks.

    Normal: cache_read → input; cache_write → input; cache_write_1h → cache_write → input.
    Long context: each ``long_*`` price where given, else the normal price of that part; a
    part that falls back to "the input price" uses the long input price. There is no long
    price for 1-hour cache writes, so they keep ``cache_write_1h`` when it is set.
    """
    if not long_context:
        cache_write = _first(price.cache_write, price.input)
        return _Rates(
            input=price.input,
            cache_read=_first(price.cache_read, price.input),
            cache_write=cache_write,
            cache_write_1h=_first(price.cache_write_1h, cache_write),
            output=price.output,
        )
    input_ = _first(price.long_input, price.input)
    cache_write = _first(price.long_cache_write, price.cache_write, input_)
    return _Rates(
        input=input_,
        cache_read=_first(price.long_cache_read, price.cache_read, input_),
        cache_write=cache_write,
        cache_write_1h=_first(price.cache_write_1h, cache_write),
        output=_first(price.long_output, price.output),
    )


def _check_counts(counts: TokenCounts) -> None:
    for field in fields(counts):
        value = getattr(counts, field.name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"token count {field.name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"token count {field.name} must not be negative, got {value}")


def cost_of(counts: TokenCounts, price: PriceRow, *, batch: bool = False) -> CallCost:
    """Exact cost of a call: tokens × price per million / 1,000,000 for each part.

    With ``batch=True`` every part is multiplied by ``1 - batch_discount`` when the row has
    a discount (and left as is when it has none).
    """
    _check_counts(counts)
    long_context = _is_long_context(counts, price)
    rates = _rates(price, long_context)
    factor = Decimal(1)
    if batch and price.batch_discount is not None:
        factor = Decimal(1) - price.batch_discount
    with decimal.localcontext(_exact()):
        input_ = counts.input * rates.input * factor / _PER_MILLION
        cache_read = counts.cache_read * rates.cache_read * factor / _PER_MILLION
        cache_write = (
            (counts.cache_write * rates.cache_write + counts.cache_write_1h * rates.cache_write_1h)
            * factor
            / _PER_MILLION
        )
        output = counts.output * rates.output * factor / _PER_MILLION
        total = input_ + cache_read + cache_write + output
    return CallCost(
        input=input_,
        cache_read=cache_read,
        cache_write=cache_write,
        output=output,
        total=total,
        long_context=long_context,
        batch=batch and price.batch_discount is not None,
    )


def list_price_of(counts: TokenCounts, price: PriceRow) -> Decimal:
    """What the call would cost without prompt caching: every prompt token at the input price.

    The long-context tier is chosen the same way as in ``cost_of`` (it depends on the prompt
    size, not on caching). "Saved by caching" is ``list_price_of(...) - cost_of(...).total``,
    which is negative when cache writes cost more than the reads saved.
    """
    _check_counts(counts)
    rates = _rates(price, _is_long_context(counts, price))
    with decimal.localcontext(_exact()):
        return (counts.prompt_total * rates.input + counts.output * rates.output) / _PER_MILLION


def price_in_force(rows: Iterable[PriceRow], at: date) -> PriceRow | None:
    """The row with ``effective_from <= at < effective_until`` (until is exclusive).

    The caller passes the rows of one (provider, model). If several rows are in force, the
    one with the latest ``effective_from`` wins, and among equals the last one given, so that
    an override listed after the defaults takes precedence. An aware ``datetime`` is taken as
    its UTC date; a naive one as its own date.
    """
    if isinstance(at, datetime):
        at = (at.astimezone(timezone.utc) if at.tzinfo is not None else at).date()
    chosen: PriceRow | None = None
    for row in rows:
        if row.in_force(at) and (chosen is None or row.effective_from >= chosen.effective_from):
            chosen = row
    return chosen


def money(value: Decimal | None) -> str | None:
    """Exact decimal string without float rounding or trailing zeros."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text
