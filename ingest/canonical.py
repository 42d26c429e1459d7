"""The dataclasses ingest produces: flattened spans in, canonical LLM calls and attribution out.

``SpanView``, ``LlmCall`` and ``TraceAttribution`` are built for every span of every export, so
they are plain dataclasses with slots: a frozen one's ``__init__`` sets each field through
``object.__setattr__``, which made building them a sixth of mapping's work
(``bench/mapping_filter.py``). They are values all the same: nothing assigns to their fields once
built; a changed one is a new one (``dataclasses.replace``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from costwatch.pricing.cost import TokenCounts

SPAN_KIND_INTERNAL = 1
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3


@dataclass(slots=True)
class SpanView:
    """One span flattened out of an export, with its resource and scope: what dialects read."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start: datetime
    end: datetime
    status_error: bool
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]
    events: Sequence[tuple[str, Mapping[str, Any]]]
    scope_name: str


@dataclass(slots=True)
class LlmCall:
    """One charged inference call, tokens normalized so one cost formula fits every provider."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    provider: str | None
    model: str | None
    request_model: str | None
    operation: str
    start: datetime
    end: datetime
    tokens: TokenCounts
    usage_state: str  # reported | estimated | unknown (ingest.dialects.base.USAGE_*)
    response_cache_hit: bool
    user: str | None
    feature: str | None
    endpoint: str | None
    session: str | None
    response_id: str | None
    is_error: bool
    reported_cost: Decimal | None
    dialect: str
    service: str | None
    count_basis: str = "reported"  # reported | from_total | inferred (ingest.dialects.base.COUNTS_*)
    service_tier: str | None = None  # standard | flex | batch | priority | ... (None: not stated)

    @property
    def estimated(self) -> bool:
        return self.usage_state == "estimated"


@dataclass(slots=True)
class TraceAttribution:
    """What one span says about itself for its trace's attribution: never values of other spans."""

    trace_id: str
    span_id: str
    user: str | None
    feature: str | None
    session: str | None
    route: str | None
    root_name: str | None
    parent_span_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    # The project's custom dimensions this span itself carries: {dimension id: value}.
    dimensions: Mapping[str, str] = field(default_factory=dict)
    # Short scalar attributes kept for backfilling dimensions: {"span": {...}, "resource": {...}}.
    attributes: Mapping[str, Mapping[str, str]] | None = None


@dataclass(frozen=True)
class DimensionSpec:
    """A custom dimension as ingest reads it: its id and attribute keys (first match wins)."""

    id: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class RejectedSpan:
    trace_id: str
    span_id: str
    reason: str


@dataclass(frozen=True)
class MappedExport:
    calls: list[LlmCall]
    attributions: list[TraceAttribution]
    rejected: list[RejectedSpan]
