"""Setting a stored call's cost from its price row: used by ingest and by re-pricing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from costwatch.pricing.cost import SERVICE_TIERS, TokenCounts, cost_and_list_price_of
from costwatch.pricing.models import ModelPrice
from costwatch.pricing.pricebook import PricedModel
from costwatch.usage.models import LlmCall, UsageState

ZERO = Decimal(0)


@dataclass(slots=True)
class CallRow:
    """One ``usage_llmcall`` row as ingest writes it, without a model instance (the hot path
    COPYs these; ``LlmCall`` field names, money in USD, counts in tokens, times UTC)."""

    project_id: int
    trace_id: str
    span_id: str
    parent_span_id: str
    provider: str
    model: str
    request_model: str
    operation: str
    dialect: str
    service: str
    started_at: datetime
    ended_at: datetime
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    usage_state: str
    count_basis: str
    service_tier: str
    modality_tokens: dict[str, Any] | None
    response_cache_hit: bool
    is_error: bool
    user: str
    feature: str
    endpoint: str
    session: str
    response_id: str
    reported_cost: Decimal | None
    received_at: datetime
    price: ModelPrice | None = None
    price_key: str = ""
    cost_approximate: bool = False
    cost_note: str = ""
    cost_input: Decimal | None = None
    cost_cache_read: Decimal | None = None
    cost_cache_write: Decimal | None = None
    cost_output: Decimal | None = None
    cost_total: Decimal | None = None
    list_cost: Decimal | None = None
    cost_source: str = ""

    @property
    def price_id(self) -> int | None:
        return self.price.pk if self.price is not None else None


def catalog_tier(service_tier: str | None) -> str | None:
    """The tier to look a price up by: the call's tier when the catalog knows the name, else
    standard (``None``; the call is then marked approximate by ``apply_price``)."""
    return service_tier if service_tier in SERVICE_TIERS else None


def apply_price(row: LlmCall | CallRow, priced: PricedModel | None) -> None:
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
        **(row.modality_tokens or {}),
    )
    row.cost_approximate, row.cost_note = False, ""
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
    cost, list_cost = cost_and_list_price_of(counts, priced.row)
    notes = [note for note in (priced.note, *cost.notes) if note]
    if row.service_tier and catalog_tier(row.service_tier) is None:
        notes.insert(0, f"service tier {row.service_tier!r} has no catalog price; priced at the standard rate")
    row.cost_approximate = bool(notes) or priced.approximate or cost.approximate
    row.cost_note = "; ".join(notes)[:1000]
    row.list_cost = list_cost
    if row.response_cache_hit:
        # Answered from the app's own cache: nothing was spent; list_cost is what it saved.
        row.cost_input = row.cost_cache_read = row.cost_cache_write = row.cost_output = ZERO
        row.cost_total = ZERO
    else:
        row.cost_input, row.cost_cache_read = cost.input, cost.cache_read
        row.cost_cache_write, row.cost_output = cost.cache_write, cost.output
        row.cost_total = cost.total
    row.cost_source = "computed"
