"""The savings advisor's one door to prices: everything it prices goes through this module.

It reads ``costwatch.pricing``'s public API only (``PriceRow``, ``cost_of``, ``price_in_force``,
``row_of``, the stored ``ModelPrice`` rows). A field the catalog does not have for a model (a context
window, a batch price, a cache-read price) makes the estimate that needs it *unavailable*; it is never
guessed.

Prices are USD per million tokens (``PriceRow``); costs returned here are exact ``Decimal`` USD.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from costwatch.pricing.cost import PriceRow, TokenCounts, cost_of, price_in_force
from costwatch.pricing.models import ModelPrice
from costwatch.pricing.store import row_of

STANDARD_TIER = "standard"


@dataclass(frozen=True)
class ModelOption:
    """A catalog model a feature's traffic could be priced on (its standard row in force)."""

    provider: str
    model: str
    row: PriceRow
    override: bool  # a project's own (negotiated) price

    @property
    def context_window(self) -> int | None:
        """Prompt + output tokens the model accepts, or None when the catalog does not say."""
        return getattr(self.row, "context_window", None)


def catalog_options(project, at: date) -> list[ModelOption]:  # noqa: ANN001 - Project
    """Every catalog model with a standard price in force on ``at`` (project overrides replace the
    global row of the same provider and model), sorted by provider and model. Rows priced for part
    of a day only (off-peak hours) are left out: a feature's traffic is priced for whole days."""
    rows: dict[tuple[str, str], list[PriceRow]] = {}
    overrides: dict[tuple[str, str], list[PriceRow]] = {}
    queryset = ModelPrice.objects.filter(retired_at__isnull=True, service_tier=STANDARD_TIER, daily_from__isnull=True)
    for target, scope in ((rows, queryset.filter(project__isnull=True)), (overrides, queryset.filter(project=project))):
        for price in scope:
            target.setdefault((price.provider, price.model), []).append(row_of(price))
    options = []
    for key in sorted(set(rows) | set(overrides)):
        row = price_in_force(overrides.get(key, []), at) if key in overrides else None
        own = row is not None
        row = row or price_in_force(rows.get(key, []), at)
        if row is not None:
            options.append(ModelOption(key[0], key[1], row, own))
    return options


def rows_by_price_id(ids: Iterable[int]) -> dict[int, PriceRow]:
    """The price rows that priced stored calls (``LlmCall.price_id``), by id."""
    return {price.pk: row_of(price) for price in ModelPrice.objects.filter(pk__in=set(ids))}


def call_cost(counts: TokenCounts, row: PriceRow) -> Decimal:
    """Exact USD cost of one call's counts on ``row`` (``cost_of``: long context, cache parts)."""
    return cost_of(counts, row).total


@dataclass(frozen=True)
class MixCost:
    cost: Decimal
    long_context_calls: int  # calls priced at the row's long-context prices


_COUNT_FIELDS = ("input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning")


class TokenMix:
    """Many calls' counts, sorted by prompt size with running sums, so a mix can be priced on each of
    thousands of catalog rows in O(log n): the calls at or below a row's long-context threshold and
    the calls above it are two sums."""

    def __init__(self, calls: Sequence[TokenCounts]) -> None:
        ordered = sorted(calls, key=lambda c: c.prompt_total)
        self.prompts = [c.prompt_total for c in ordered]
        self._running: list[tuple[int, ...]] = [(0,) * len(_COUNT_FIELDS)]
        for c in ordered:
            last = self._running[-1]
            self._running.append(tuple(last[i] + getattr(c, name) for i, name in enumerate(_COUNT_FIELDS)))

    def __len__(self) -> int:
        return len(self.prompts)

    def sums(self, start: int, end: int) -> TokenCounts:
        """Summed counts of the calls ``start``..``end`` (0-based, end exclusive) in prompt order."""
        high, low = self._running[end], self._running[start]
        return TokenCounts(**{name: high[i] - low[i] for i, name in enumerate(_COUNT_FIELDS)})

    def total(self) -> TokenCounts:
        return self.sums(0, len(self))


def mix_cost(mix: TokenMix | Sequence[TokenCounts], row: PriceRow) -> MixCost:
    """Exact USD cost of many calls on ``row``: the calls at or below the row's long-context threshold
    at its normal prices, the calls above it at its long prices. Equals the sum of ``cost_of`` over
    every call (cost is linear in the counts within a tier)."""
    from bisect import bisect_right

    mix = mix if isinstance(mix, TokenMix) else TokenMix(mix)
    threshold = row.long_context_threshold
    split = len(mix) if threshold is None else bisect_right(mix.prompts, threshold)
    total = cost_of(mix.sums(0, split), replace(row, long_context_threshold=None)).total
    if split < len(mix):
        total += cost_of(mix.sums(split, len(mix)), replace(row, long_context_threshold=0)).total
    return MixCost(total, len(mix) - split)


def is_batch_tier(row: PriceRow) -> bool:
    """True when the row already prices the batch tier (the call was sent through a batch API)."""
    return getattr(row, "service_tier", STANDARD_TIER) == "batch"


class BatchPricer:
    """``batch_cost`` with the catalog's batch rows looked up once per (provider, model, day): one
    instance per report."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, date], PriceRow | None] = {}

    def __call__(self, counts: TokenCounts, row: PriceRow, at: date) -> Decimal | None:
        key = (row.provider, row.model, at)
        if key not in self._rows:
            self._rows[key] = _batch_row_of(row, at)
        batch_row = self._rows[key]
        if batch_row is not None:
            return cost_of(counts, batch_row).total
        if row.batch_discount is None:
            return None
        return cost_of(counts, row, batch=True).total


def batch_cost(counts: TokenCounts, row: PriceRow, at: date) -> Decimal | None:
    """USD cost of the call at the provider's batch price on ``at``, or None when the catalog states none.

    A stored ``batch`` row of the same model wins, else the row's ``batch_discount`` (exact).
    """
    return BatchPricer()(counts, row, at)


def _batch_row_of(row: PriceRow, at: date) -> PriceRow | None:
    """The stored ``batch`` tier row of the same model in force."""
    candidates = [
        row_of(p)
        for p in ModelPrice.objects.filter(
            provider=row.provider, model=row.model, service_tier="batch", project__isnull=True
        )
    ]
    return price_in_force(candidates, at) if candidates else None


def has_cache_read_price(row: PriceRow) -> bool:
    """True when the catalog states a cache-read price for the model (else caching cannot be priced)."""
    return row.cache_read is not None
