"""Raw calls and span attribution rows for rollup tests, plus a reference computed in Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from costwatch.usage.models import LlmCall, SpanAttribution

_counter = iter(range(1, 10**9))


def make_call(
    project,
    *,
    trace: str,
    at: datetime,
    model: str = "gpt-4o",
    user: str = "",
    feature: str = "",  # noqa: ANN001
    response_id: str = "",
    cost: Decimal | None = Decimal("0.01"),
    tokens: int = 100,
    cache_read: int = 0,
    list_cost: Decimal | None = None,
    hit: bool = False,
    error: bool = False,
    session: str = "",
    span: str | None = None,
    endpoint: str = "",
    parent: str = "",
    usage_state: str = "reported",
) -> LlmCall:
    return LlmCall(
        project=project,
        trace_id=trace.ljust(32, "0")[:32],
        span_id=span or f"{next(_counter):016x}",
        parent_span_id=parent,
        usage_state=usage_state,
        operation="chat",
        dialect="test",
        provider="openai",
        model=model,
        price_key=model if cost is not None else "",
        started_at=at,
        ended_at=at + timedelta(seconds=1),
        input_tokens=tokens,
        output_tokens=tokens // 2,
        cache_read_tokens=cache_read,
        user=user,
        feature=feature,
        session=session,
        response_id=response_id,
        endpoint=endpoint,
        cost_total=cost,
        cost_input=cost,
        list_cost=list_cost if list_cost is not None else cost,
        response_cache_hit=hit,
        is_error=error,
        cost_source="computed" if cost is not None else "",
    )


def make_root(
    project,
    *,
    trace: str,
    user: str = "",
    route: str = "",
    name: str = "GET /",
    feature: str = "",  # noqa: ANN001
    span: str | None = None,
) -> SpanAttribution:
    return SpanAttribution(
        project=project,
        trace_id=trace.ljust(32, "0")[:32],
        span_id=span or f"{next(_counter):016x}",
        is_root=True,
        user=user,
        route=route,
        root_name=name,
        feature=feature,
    )


def root_span_id(trace: int) -> str:
    """The span id the property tests give trace ``trace``'s root span (its calls' parent)."""
    return f"f{trace:015x}"


def reference_rollups(calls: list[LlmCall], roots: list[SpanAttribution]) -> dict[tuple[str, str, datetime], dict]:
    """(dimension, key, hour) -> {cost, llm_calls, requests, savings} following the documented rules,
    for calls whose parent is their trace's root span (stored in ``roots``, or never arrived)."""
    by_identity: dict[tuple[str, str], LlmCall] = {}
    for c in sorted(calls, key=lambda c: (-(c.input_tokens + c.cache_read_tokens + c.output_tokens), c.span_id)):
        by_identity.setdefault((c.trace_id, c.response_id or c.span_id), c)
    attr: dict[str, SpanAttribution] = {}
    for a in sorted(roots, key=lambda a: (not a.is_root, a.span_id)):
        attr.setdefault(a.trace_id, a)
    first_at: dict[str, datetime] = {}
    for c in calls:
        first_at[c.trace_id] = min(first_at.get(c.trace_id, c.started_at), c.started_at)
    out: dict[tuple[str, str, datetime], dict] = defaultdict(
        lambda: {"cost": Decimal(0), "llm_calls": 0, "requests": set(), "savings": Decimal(0)}
    )
    for c in by_identity.values():
        hour = c.started_at.replace(minute=0, second=0, microsecond=0)
        a = attr.get(c.trace_id)
        keys = {
            "total": "",
            "user": c.user or (a.user if a else "") or "",
            "feature": c.feature or (a.feature if a else "") or "",
            "endpoint": ((a.route or a.root_name) if a else "") or "",
            "model": c.price_key or c.model or "(unknown)",
            "provider": c.provider or "(unknown)",
            "conversation": c.session,
        }
        for dimension, key in keys.items():
            if dimension == "conversation" and not key:
                continue
            row = out[(dimension, key, hour)]
            row["cost"] += c.cost_total or 0
            row["llm_calls"] += 1
            if c.list_cost is not None:
                row["savings"] += c.list_cost - (c.cost_total or 0)
            if first_at[c.trace_id] >= hour:
                row["requests"].add(c.trace_id)
    return {k: {**v, "requests": len(v["requests"])} for k, v in out.items()}
