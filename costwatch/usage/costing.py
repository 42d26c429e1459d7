"""Setting a stored call's cost from its price row: used by ingest and by re-pricing."""
from __future__ import annotations

from decimal import Decimal

from costwatch.pricing.cost import TokenCounts, cost_of, list_price_of
from costwatch.pricing.services import PricedModel
from costwatch.usage.models import LlmCall, UsageState

ZERO = Decimal(0)


def apply_price(row: LlmCall, priced: PricedModel | None) -> None:
    """Set the cost fields of a call from its price (or mark it unpriced). Used by reprice too.

    A call whose usage is unknown keeps its price row (its model is known) but no cost: zero
    counts are not zero usage. A cost the span reported itself is used when nothing else is known.
    """
    counts = TokenCounts(
        input=row.input_tokens,
        cache_read=row.cache_read_tokens,
        cache_write=row.cache_write_tokens,
        cache_write_1h=row.cache_write_1h_tokens,
        output=row.output_tokens,
        reasoning=row.reasoning_tokens,
    )
    if priced is None:
        row.price = None
        row.price_key = ""
        row.cost_input = row.cost_cache_read = row.cost_cache_write = row.cost_output = None
        row.list_cost = None
        if row.reported_cost is not None and not row.response_cache_hit:
            row.cost_total, row.cost_source = row.reported_cost, "reported"
        else:
            row.cost_total, row.cost_source = None, ""
        return
    row.price = priced.price
    row.price_key = priced.row.model
    if row.usage_state == UsageState.UNKNOWN:
        row.cost_input = row.cost_cache_read = row.cost_cache_write = row.cost_output = None
        row.list_cost = None
        if row.reported_cost is not None and not row.response_cache_hit:
            row.cost_total, row.cost_source = row.reported_cost, "reported"
        else:
            row.cost_total, row.cost_source = None, ""
        return
    cost = cost_of(counts, priced.row)
    row.list_cost = list_price_of(counts, priced.row)
    if row.response_cache_hit:
        # Answered from the app's own cache: nothing was spent; list_cost is what it saved.
        row.cost_input = row.cost_cache_read = row.cost_cache_write = row.cost_output = ZERO
        row.cost_total = ZERO
    else:
        row.cost_input, row.cost_cache_read = cost.input, cost.cache_read
        row.cost_cache_write, row.cost_output = cost.cache_write, cost.output
        row.cost_total = cost.total
    row.cost_source = "computed"
