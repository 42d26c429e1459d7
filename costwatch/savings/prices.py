"""The savings advisor's one door to prices: everything it prices goes through this module.

It reads ``costwatch.pricing``'s public API only (``PriceRow``, ``cost_of``, ``row_of``, the stored
``ModelPrice`` rows) and tolerates both shapes of the catalog: the hand-kept catalog of main and the
``genai-prices`` catalog (issue 13: rows per service tier, retired rows, ``choose_price``). A field the
catalog in use does not have (a context window, a batch price, a cache-read price) makes the estimate
that needs it *unavailable*; it is never guessed.

Prices are USD per million tokens (``PriceRow``); costs returned here are exact ``Decimal`` USD.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from costwatch.pricing import cost as pricing_cost
from costwatch.pricing.cost import PriceRow, TokenCounts, cost_of, price_in_force

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


def _price_fields() -> set[str]:
    from costwatch.pricing.models import ModelPrice

    return {f.name for f in ModelPrice._meta.get_fields()}


def catalog_options(project, at: date) -> list[ModelOption]:  # noqa: ANN001 - Project
    """Every catalog model with a standard price in force on ``at`` (project overrides replace the
    global row of the same provider and model), sorted by provider and model."""
    from costwatch.pricing.models import ModelPrice
    from costwatch.pricing.services import row_of

    fields = _price_fields()
    rows: dict[tuple[str, str], list[PriceRow]] = {}
    overrides: dict[tuple[str, str], list[PriceRow]] = {}
    queryset = ModelPrice.objects.filter(effective_from__lte=at)
    if "retired_at" in fields:
        queryset = queryset.filter(retired_at__isnull=True)
    if "service_tier" in fields:
        queryset = queryset.filter(service_tier=STANDARD_TIER)
    for price in queryset.filter(project__isnull=True):
        rows.setdefault((price.provider, price.model), []).append(row_of(price))
    for price in queryset.filter(project=project):
        overrides.setdefault((price.provider, price.model), []).append(row_of(price))
    options = []
    for key in sorted(set(rows) | set(overrides)):
        row = price_in_force(overrides.get(key, []), at) if key in overrides else None
        own = row is not None
        row = row or price_in_force(rows.get(key, []), at)
        if row is not None and (getattr(row, "daily_from", None) is None):
            options.append(ModelOption(key[0], key[1], row, own))
    return options


def rows_by_price_id(ids: Iterable[int]) -> dict[int, PriceRow]:
    """The price rows that priced stored calls (``LlmCall.price_id``), by id."""
    from costwatch.pricing.models import ModelPrice
    from costwatch.pricing.services import row_of

    return {price.pk: row_of(price) for price in ModelPrice.objects.filter(pk__in=set(ids))}


def call_cost(counts: TokenCounts, row: PriceRow) -> Decimal:
    """Exact USD cost of one call's counts on ``row`` (``cost_of``: long context, cache parts)."""
    return cost_of(counts, row).total


@dataclass(frozen=True)
class MixCost:
    cost: Decimal
    long_context_calls: int  # calls priced at the row's long-context prices


def mix_cost(calls: Sequence[TokenCounts], row: PriceRow) -> MixCost:
    """Exact USD cost of many calls on ``row``, priced as two sums (calls at or below the row's
    long-context threshold at its normal prices, calls above it at its long prices), which equals
    the sum of ``cost_of`` over every call without pricing each one."""
    threshold = row.long_context_threshold
    if threshold is None:
        return MixCost(cost_of(_sum(calls), replace(row, long_context_threshold=None)).total, 0)
    below = [c for c in calls if c.prompt_total <= threshold]
    above = [c for c in calls if c.prompt_total > threshold]
    total = cost_of(_sum(below), replace(row, long_context_threshold=None)).total
    if above:
        total += cost_of(_sum(above), replace(row, long_context_threshold=0)).total
    return MixCost(total, len(above))


def _sum(calls: Sequence[TokenCounts]) -> TokenCounts:
    return TokenCounts(
        input=sum(c.input for c in calls), cache_read=sum(c.cache_read for c in calls),
        cache_write=sum(c.cache_write for c in calls), cache_write_1h=sum(c.cache_write_1h for c in calls),
        output=sum(c.output for c in calls), reasoning=sum(c.reasoning for c in calls),
    )


def batch_cost(counts: TokenCounts, row: PriceRow, at: date) -> Decimal | None:
    """USD cost of the call at the provider's batch price, or None when the catalog states none.

    With the ``genai-prices`` catalog (``choose_price``) a ``batch`` row of the same model wins, else
    a standard row's ``batch_discount`` (exact); on the hand-kept catalog only ``batch_discount``.
    """
    choose = getattr(pricing_cost, "choose_price", None)
    if choose is not None and getattr(row, "service_tier", STANDARD_TIER) == STANDARD_TIER:
        batch_row = _batch_row_of(row, at)
        if batch_row is not None:
            return cost_of(counts, batch_row).total
    if row.batch_discount is None:
        return None
    return cost_of(counts, row, batch=True).total


def _batch_row_of(row: PriceRow, at: date) -> PriceRow | None:
    """The stored ``batch`` tier row of the same model in force (genai-prices catalog only)."""
    fields = _price_fields()
    if "service_tier" not in fields:
        return None
    from costwatch.pricing.models import ModelPrice
    from costwatch.pricing.services import row_of

    candidates = [row_of(p) for p in ModelPrice.objects.filter(
        provider=row.provider, model=row.model, service_tier="batch", project__isnull=True)]
    return price_in_force(candidates, at) if candidates else None


def has_cache_read_price(row: PriceRow) -> bool:
    """True when the catalog states a cache-read price for the model (else caching cannot be priced)."""
    return row.cache_read is not None
