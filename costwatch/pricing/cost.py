"""Exact cost of one LLM call from its token counts and the price row in force.

Prices are USD (or ``PriceRow.currency``) per one million tokens. Money is ``Decimal`` end
to end: a ``PriceRow`` refuses floats with ``TypeError``, and every cost is computed exactly,
with no rounding (a computation that would need rounding raises ``decimal.Inexact``).

How a call is billed, in the field's terms (the shape of the ``genai-prices`` data, which is
where the default catalog's prices come from):

* **Cache writes by lifetime.** ``TokenCounts.cache_write`` are 5-minute writes priced at
  ``PriceRow.cache_write``; ``cache_write_1h`` are 1-hour writes at ``PriceRow.cache_write_1h``.
* **Service tier.** A catalog has one row per (model, period, ``service_tier``): ``standard``,
  ``flex``, ``batch``, ``priority`` (and ``fast``). ``choose_price(rows, at, service_tier=...)``
  picks the row of the call's tier; with none it falls back to the standard row and says so
  (``PriceChoice.approximate``), except that a ``batch`` call on a row with a
  ``batch_discount`` gets that discount exactly.
* **Modality.** ``TokenCounts.input_audio`` / ``input_image`` / ``input_video`` are the parts of
  ``input`` in that modality, ``cache_read_audio`` / ``cache_read_image`` the parts of
  ``cache_read``, ``output_audio`` / ``output_image`` / ``output_video`` the parts of ``output``.
  Each is priced at the row's modality price (``input_audio`` ...) where the row has one, else
  at the text price of its part, and the cost is then marked approximate.
* **Approximate, never silent.** ``CallCost.approximate`` is True and ``CallCost.notes`` says
  why whenever a part was priced at a fallback rate that the source does not state for it.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Protocol, TypeVar

_PER_MILLION = Decimal(1_000_000)
# Modality prices: (price field, the token count it prices, the count it is part of).
MODALITY_PRICES = (
    ("input_audio", "input_audio", "input"),
    ("input_image", "input_image", "input"),
    ("input_video", "input_video", "input"),
    ("cache_read_audio", "cache_read_audio", "cache_read"),
    ("cache_read_image", "cache_read_image", "cache_read"),
    ("output_audio", "output_audio", "output"),
    ("output_image", "output_image", "output"),
    ("output_video", "output_video", "output"),
)
SERVICE_TIERS = ("standard", "flex", "batch", "priority", "fast")
STANDARD = "standard"
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
    "long_cache_write_1h",
    "output_reasoning",
    *(name for name, _, _ in MODALITY_PRICES),
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
    cache_write: int = 0  # 5-minute cache writes
    cache_write_1h: int = 0  # 1-hour cache writes
    output: int = 0
    reasoning: int = 0
    # Modality parts: each is included in the count named before the underscore
    # (input_audio ⊆ input, cache_read_audio ⊆ cache_read, output_audio ⊆ output).
    input_audio: int = 0
    input_image: int = 0
    input_video: int = 0
    cache_read_audio: int = 0
    cache_read_image: int = 0
    output_audio: int = 0
    output_image: int = 0
    output_video: int = 0

    def modalities(self) -> dict[str, int]:
        """The non-zero modality parts (``input_audio`` ...), as stored on a call."""
        return {name: getattr(self, name) for _, name, _ in MODALITY_PRICES if getattr(self, name)}

    @property
    def prompt_total(self) -> int:
        """Every prompt token: input plus cache reads and both kinds of cache writes."""
        return self.input + self.cache_read + self.cache_write + self.cache_write_1h


_EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])


def _exact() -> decimal.Context:
    """A context wide enough for any realistic call, that raises instead of rounding. Shared:
    callers only pass it to ``decimal.localcontext``, which works on a copy."""
    return _EXACT


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

    ``cache_write`` is the 5-minute cache write, ``cache_write_1h`` the 1-hour one. Above
    ``long_context_threshold`` prompt tokens every ``long_*`` price replaces its part (the
    "cliff" of Anthropic, Google and OpenAI: the whole call is priced long). ``service_tier``
    names the tier the row prices (``SERVICE_TIERS``). ``daily_from`` / ``daily_until`` (UTC
    times of day, until exclusive, may wrap past midnight) restrict the row to part of each day,
    e.g. DeepSeek's off-peak hours. ``output_reasoning`` prices reasoning tokens (a part of
    ``output``) where a model bills them differently. ``other_prices`` keeps what the source
    prices in units other than tokens (``{"web_searches_kcount": Decimal("10")}``): shown, never
    charged, since spans carry no such counts.
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
    long_cache_write_1h: Decimal | None = None
    output_reasoning: Decimal | None = None
    input_audio: Decimal | None = None
    input_image: Decimal | None = None
    input_video: Decimal | None = None
    cache_read_audio: Decimal | None = None
    cache_read_image: Decimal | None = None
    output_audio: Decimal | None = None
    output_image: Decimal | None = None
    output_video: Decimal | None = None
    batch_discount: Decimal | None = None
    service_tier: str = STANDARD
    daily_from: time | None = None
    daily_until: time | None = None
    effective_from: date = date(2020, 1, 1)
    effective_until: date | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    currency: str = "USD"
    source_url: str = ""
    checked_on: date | None = None
    other_prices: Mapping[str, Decimal] = field(default_factory=dict, compare=False, hash=False)

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
                f"effective_until ({self.effective_until}) must be after effective_from ({self.effective_from})"
            )
        if self.service_tier not in SERVICE_TIERS:
            raise ValueError(f"service_tier must be one of {', '.join(SERVICE_TIERS)}, got {self.service_tier!r}")
        if (self.daily_from is None) != (self.daily_until is None):
            raise ValueError("daily_from and daily_until go together")
        for name in ("daily_from", "daily_until"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, time) or value.tzinfo is not None):
                raise TypeError(f"{name} must be a naive time of day (UTC)")
        if self.daily_from is not None and self.daily_from == self.daily_until:
            raise ValueError("daily_from and daily_until must differ")
        object.__setattr__(self, "other_prices", {k: _to_decimal(k, v) for k, v in dict(self.other_prices).items()})


@dataclass(frozen=True)
class CallCost:
    """A call's cost in the row's currency, by part. ``approximate`` with ``notes`` saying why."""

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    total: Decimal
    long_context: bool
    batch: bool
    approximate: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Rates:
    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    output: Decimal
    one_hour_stated: bool


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
    part that falls back to "the input price" uses the long input price. 1-hour cache writes
    use ``long_cache_write_1h``, else ``cache_write_1h``, else the (long) 5-minute write price.
    """
    one_hour_stated = price.cache_write_1h is not None or (long_context and price.long_cache_write_1h is not None)
    if not long_context:
        cache_write = _first(price.cache_write, price.input)
        return _Rates(
            input=price.input,
            cache_read=_first(price.cache_read, price.input),
            cache_write=cache_write,
            cache_write_1h=_first(price.cache_write_1h, cache_write),
            output=price.output,
            one_hour_stated=one_hour_stated,
        )
    input_ = _first(price.long_input, price.input)
    cache_write = _first(price.long_cache_write, price.cache_write, input_)
    return _Rates(
        input=input_,
        cache_read=_first(price.long_cache_read, price.cache_read, input_),
        cache_write=cache_write,
        cache_write_1h=_first(price.long_cache_write_1h, price.cache_write_1h, cache_write),
        output=_first(price.long_output, price.output),
        one_hour_stated=one_hour_stated,
    )


_COUNT_NAMES = tuple(item.name for item in fields(TokenCounts))
_MODALITY_PARTS = tuple(
    (part, tuple(count for _, count, whole in MODALITY_PRICES if whole == part))
    for part in ("input", "cache_read", "output")
)


def _check_counts(counts: TokenCounts) -> None:
    for name in _COUNT_NAMES:
        value = getattr(counts, name)
        if type(value) is not int:  # bool is an int subclass, and not a count
            raise TypeError(f"token count {name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"token count {name} must not be negative, got {value}")
    for part, inside_names in _MODALITY_PARTS:
        inside = sum(getattr(counts, count) for count in inside_names)
        if inside > getattr(counts, part):
            raise ValueError(f"modality counts of {part} ({inside}) exceed {part} ({getattr(counts, part)})")


def _part_cost(counts: TokenCounts, price: PriceRow, part: str, rate: Decimal, notes: list[str]) -> Decimal:
    """Tokens × rate of one part (input, cache_read or output), its modality parts at their own rates."""
    total = getattr(counts, part)
    money = Decimal(0)
    for price_name, count_name, whole in MODALITY_PRICES:
        tokens = getattr(counts, count_name)
        if whole != part or tokens == 0:
            continue
        modality_rate = getattr(price, price_name)
        if modality_rate is None:
            notes.append(
                f"{price.model} has no {price_name.replace('_', ' ')} price: "
                f"{tokens} {count_name.replace('_', ' ')} tokens at the text rate"
            )
            continue
        money += tokens * modality_rate
        total -= tokens
    if part == "output" and counts.reasoning and price.output_reasoning is not None:
        if counts.reasoning > total:
            raise ValueError(f"reasoning ({counts.reasoning}) exceeds the text output it is part of ({total})")
        money += counts.reasoning * price.output_reasoning
        total -= counts.reasoning
    return money + total * rate


def cost_of(counts: TokenCounts, price: PriceRow, *, batch: bool = False) -> CallCost:
    """Exact cost of a call: tokens × price per million / 1,000,000 for each part.

    ``counts``: see ``TokenCounts`` (modality and reasoning counts are parts of input,
    cache_read and output, never added on top). ``price``: the row chosen for the call (see
    ``choose_price`` for the service tier). Returns a ``CallCost`` in the row's currency whose
    ``approximate`` / ``notes`` say when a part was priced at a rate the row does not state for
    it (modality tokens at the text rate, 1-hour writes at the 5-minute rate).

    With ``batch=True`` every part is multiplied by ``1 - batch_discount`` when the row has
    a discount (and left as is when it has none). Prefer a ``batch`` row: ``choose_price``
    derives one from ``batch_discount`` when the catalog has no batch row.

    Raises ``TypeError`` / ``ValueError`` for non-integer or negative counts and for modality
    counts larger than the count they are part of; ``decimal.Inexact`` instead of rounding.
    """
    _check_counts(counts)
    long_context = _is_long_context(counts, price)
    return _cost(counts, price, batch, long_context, _rates(price, long_context))


def cost_and_list_price_of(counts: TokenCounts, price: PriceRow) -> tuple[CallCost, Decimal]:
    """``cost_of(counts, price)`` and ``list_price_of(counts, price)`` (USD, or the row's currency)
    in one pass: the counts are checked and the rates chosen once. What ingest and re-pricing
    store for every call; raises as ``cost_of`` does."""
    _check_counts(counts)
    long_context = _is_long_context(counts, price)
    rates = _rates(price, long_context)
    return _cost(counts, price, False, long_context, rates), _list_price(counts, rates)


def _list_price(counts: TokenCounts, rates: _Rates) -> Decimal:
    with decimal.localcontext(_exact()):
        return (counts.prompt_total * rates.input + counts.output * rates.output) / _PER_MILLION


def _cost(counts: TokenCounts, price: PriceRow, batch: bool, long_context: bool, rates: _Rates) -> CallCost:
    notes: list[str] = []
    if counts.cache_write_1h and not rates.one_hour_stated:
        notes.append(f"{price.model} has no 1-hour cache write price: the 5-minute write price is used")
    factor = Decimal(1)
    if batch and price.batch_discount is not None:
        factor = Decimal(1) - price.batch_discount
    with decimal.localcontext(_exact()):
        input_ = _part_cost(counts, price, "input", rates.input, notes) * factor / _PER_MILLION
        cache_read = _part_cost(counts, price, "cache_read", rates.cache_read, notes) * factor / _PER_MILLION
        cache_write = (
            (counts.cache_write * rates.cache_write + counts.cache_write_1h * rates.cache_write_1h)
            * factor
            / _PER_MILLION
        )
        output = _part_cost(counts, price, "output", rates.output, notes) * factor / _PER_MILLION
        total = input_ + cache_read + cache_write + output
    return CallCost(
        input=input_,
        cache_read=cache_read,
        cache_write=cache_write,
        output=output,
        total=total,
        long_context=long_context,
        batch=batch and price.batch_discount is not None,
        approximate=bool(notes),
        notes=tuple(dict.fromkeys(notes)),
    )


def list_price_of(counts: TokenCounts, price: PriceRow) -> Decimal:
    """What the call would cost without prompt caching: every prompt token at the input price.

    The long-context tier is chosen the same way as in ``cost_of`` (it depends on the prompt
    size, not on caching). "Saved by caching" is ``list_price_of(...) - cost_of(...).total``,
    which is negative when cache writes cost more than the reads saved.
    """
    _check_counts(counts)
    return _list_price(counts, _rates(price, _is_long_context(counts, price)))


class Dated(Protocol):
    """What ``price_in_force`` reads of a price: a ``PriceRow``, or a stored row with the same fields."""

    @property
    def service_tier(self) -> str: ...
    @property
    def effective_from(self) -> date: ...
    @property
    def effective_until(self) -> date | None: ...
    @property
    def daily_from(self) -> time | None: ...
    @property
    def daily_until(self) -> time | None: ...


DatedT = TypeVar("DatedT", bound=Dated)


def _in_force(row: Dated, day: date) -> bool:
    """True when ``day`` lies in [effective_from, effective_until)."""
    return row.effective_from <= day and (row.effective_until is None or day < row.effective_until)


def _in_hours(row: Dated, clock: time) -> bool:
    """True when the UTC time of day lies in the row's daily window (always, without one)."""
    if row.daily_from is None or row.daily_until is None:
        return True
    if row.daily_from < row.daily_until:
        return row.daily_from <= clock < row.daily_until
    return clock >= row.daily_from or clock < row.daily_until


def utc_day_and_clock(at: date) -> tuple[date, time]:
    """How ``price_in_force`` reads a moment: (UTC day, naive UTC time of day). An aware
    ``datetime`` is taken in UTC, a naive one as UTC, a ``date`` as its midnight."""
    if isinstance(at, datetime):
        moment = _as_utc(at)
        return moment.date(), moment.time().replace(tzinfo=None)
    return at, time(0)


def utc_day(at: date) -> date:
    """The UTC day of ``at`` as ``utc_day_and_clock`` reads it."""
    return _as_utc(at).date() if isinstance(at, datetime) else at


def _as_utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc) if at.tzinfo is not None else at


def varies_within_a_day(rows: Iterable[Dated]) -> bool:
    """Whether ``price_in_force`` over ``rows`` can choose differently at two moments of one UTC
    day: only a row with a daily window reads the time of day, every other rule reads the day."""
    return any(row.daily_from is not None or row.daily_until is not None for row in rows)


def price_in_force(rows: Iterable[DatedT], at: date, *, service_tier: str = STANDARD) -> DatedT | None:
    """The row of ``service_tier`` with ``effective_from <= at < effective_until`` (until is exclusive).

    The one rule for "the price in force": every lookup (price book, catalog listing, versions
    of a price, the savings advisor) asks it. ``rows`` are ``PriceRow`` values or stored rows
    with the same fields (``Dated``); the one chosen is returned as given. The caller passes the
    rows of one (provider, model). If several rows are in force, a row whose daily window
    (``daily_from``/``daily_until``) contains the time of day beats a row without one; then the
    one with the latest ``effective_from`` wins, and among equals the last one given, so that an
    override listed after the defaults takes precedence. An aware ``datetime`` is taken in UTC;
    a naive one as UTC; a ``date`` as its midnight.
    """
    day, clock = utc_day_and_clock(at)
    chosen: DatedT | None = None
    for row in rows:
        if row.service_tier != service_tier or not _in_force(row, day) or not _in_hours(row, clock):
            continue
        if chosen is None or (row.daily_from is not None, row.effective_from) >= (
            chosen.daily_from is not None,
            chosen.effective_from,
        ):
            chosen = row
    return chosen


@dataclass(frozen=True)
class PriceChoice:
    """The row that prices a call of a service tier, and whether it is only an approximation."""

    row: PriceRow
    service_tier: str  # the tier asked for
    approximate: bool
    note: str = ""


def choose_price(rows: Iterable[PriceRow], at: date, *, service_tier: str | None = None) -> PriceChoice | None:
    """The price of a call of ``service_tier`` at ``at`` from the rows of one (provider, model).

    ``service_tier`` is one of ``SERVICE_TIERS``; ``None`` means ``standard``. The row of that
    tier in force wins (see ``price_in_force``). Without one: a ``batch`` call on a standard row
    with a ``batch_discount`` gets an exact derived batch row (not approximate); otherwise the
    standard row is used and the choice is ``approximate`` with a note. No standard row in force
    either → ``None`` (unpriced). An unknown tier name raises ``ValueError``.
    """
    tier = service_tier or STANDARD
    if tier not in SERVICE_TIERS:
        raise ValueError(f"service_tier must be one of {', '.join(SERVICE_TIERS)}, got {tier!r}")
    rows = list(rows)
    row = price_in_force(rows, at, service_tier=tier)
    if row is not None:
        return PriceChoice(row, tier, approximate=False)
    standard = price_in_force(rows, at) if tier != STANDARD else None
    if standard is None:
        return None
    if tier == "batch" and standard.batch_discount is not None:
        return PriceChoice(batch_row(standard), tier, approximate=False)
    return PriceChoice(
        standard,
        tier,
        approximate=True,
        note=f"no {tier} price for {standard.model}: priced at the standard rate",
    )


def batch_row(row: PriceRow) -> PriceRow:
    """``row`` with every token price times ``1 - batch_discount``, as a ``batch`` row (exact)."""
    if row.batch_discount is None:
        raise ValueError(f"{row.model} has no batch discount")
    factor = Decimal(1) - row.batch_discount
    with decimal.localcontext(_exact()):
        prices = {
            name: getattr(row, name) * factor
            for name in _MONEY_FIELDS
            if name != "batch_discount" and getattr(row, name) is not None
        }
    return replace(row, **prices, batch_discount=None, service_tier="batch")
