"""From a decoded export to canonical calls, trace attribution and rejected spans."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ingest.canonical import (
    SPAN_KIND_SERVER,
    LlmCall,
    MappedExport,
    RejectedSpan,
    SpanView,
    TraceAttribution,
)
from ingest.dialects import DIALECTS, Dialect, InvalidSpan

DEFAULT_FEATURE_KEYS: tuple[str, ...] = ("costwatch.feature", "app.feature")
STANDARD_USER_KEYS = ("enduser.id", "user.id")
STANDARD_SESSION_KEYS = ("gen_ai.conversation.id", "session.id")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Instrumentations put their attribution keys on every span they make, LLM or not (a
# Traceloop workflow span, a Vercel ai.generateText parent), so every span is read with all.
_DIALECT_USER_KEYS = tuple(key for dialect in DIALECTS for key in dialect.user_keys)
_DIALECT_FEATURE_KEYS = tuple(key for dialect in DIALECTS for key in dialect.feature_keys)
_DIALECT_SESSION_KEYS = tuple(key for dialect in DIALECTS for key in dialect.session_keys)


def span_views(request: ExportTraceServiceRequest) -> Iterator[SpanView]:
    """Every span of the export with valid ids, flattened with its resource and scope."""
    for item in _flatten(request):
        if isinstance(item, SpanView):
            yield item


def map_export(
    request: ExportTraceServiceRequest,
    *,
    feature_keys: Sequence[str] = DEFAULT_FEATURE_KEYS,
    user_keys: Sequence[str] = (),
) -> MappedExport:
    """Map every span: inference spans become calls, every span may attribute its trace.

    An invalid span is rejected alone. Calls inherit the user, feature, session and
    endpoint they lack from the other spans of their trace in this export, and a provider
    call recorded twice (same response id in one trace) is kept once.
    """
    views: list[SpanView] = []
    rejected: list[RejectedSpan] = []
    seen: set[tuple[str, str]] = set()
    for item in _flatten(request):
        if isinstance(item, RejectedSpan):
            rejected.append(item)
        elif (item.trace_id, item.span_id) not in seen:
            seen.add((item.trace_id, item.span_id))
            views.append(item)

    attributions = {(v.trace_id, v.span_id): attribution_of(v, feature_keys, user_keys) for v in views}
    calls: list[LlmCall] = []
    for view in views:
        dialect = _claiming_dialect(view)
        if dialect is None:
            continue
        try:
            if view.start == _EPOCH:
                raise InvalidSpan(f"span {view.span_id}: start time is missing")
            calls.append(dialect.to_call(view))
        except InvalidSpan as exc:
            rejected.append(RejectedSpan(view.trace_id, view.span_id, str(exc)))

    traces = _TraceIndex(views, attributions)
    calls = [traces.attribute(call) for call in _without_duplicates(calls)]
    contributing = [a for a in attributions.values() if _contributes(a)]
    return MappedExport(calls=calls, attributions=contributing, rejected=rejected)


def attribution_of(span: SpanView, feature_keys: Sequence[str], user_keys: Sequence[str]) -> TraceAttribution:
    """What this span says about its trace's user, feature, session, route and root name."""
    route = span.attributes.get("http.route")
    return TraceAttribution(
        trace_id=span.trace_id,
        span_id=span.span_id,
        user=_first_value(span, [*STANDARD_USER_KEYS, *user_keys, *_DIALECT_USER_KEYS]),
        feature=_first_value(span, [*feature_keys, *_DIALECT_FEATURE_KEYS]),
        session=_first_value(span, [*STANDARD_SESSION_KEYS, *_DIALECT_SESSION_KEYS]),
        # Client spans carry the provider's route (the anthropic SDK sets /v1/messages).
        route=route if span.kind == SPAN_KIND_SERVER and isinstance(route, str) and route else None,
        root_name=(span.name or None) if span.parent_span_id is None else None,
    )


def _first_value(span: SpanView, keys: Iterable[str]) -> str | None:
    keys = list(keys)
    for source in (span.attributes, span.resource):
        for key in keys:
            value = source.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return str(value)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _contributes(attribution: TraceAttribution) -> bool:
    return any(
        (attribution.user, attribution.feature, attribution.session, attribution.route, attribution.root_name)
    )


def _claiming_dialect(span: SpanView) -> Dialect | None:
    return next((dialect for dialect in DIALECTS if dialect.claims(span)), None)


def _without_duplicates(calls: list[LlmCall]) -> list[LlmCall]:
    """Drop all but the most complete of the calls sharing a response id in one trace."""
    groups: dict[tuple[str, str], list[LlmCall]] = defaultdict(list)
    for call in calls:
        if call.response_id:
            groups[(call.trace_id, call.response_id)].append(call)
    dropped: set[tuple[str, str]] = set()
    for group in groups.values():
        if len(group) > 1:
            keep = min(group, key=lambda c: (_incompleteness(c), c.span_id))
            dropped.update((c.trace_id, c.span_id) for c in group if c is not keep)
    return [c for c in calls if (c.trace_id, c.span_id) not in dropped]


def _incompleteness(call: LlmCall) -> tuple[int, int, int]:
    t = call.tokens
    fields = (t.input, t.cache_read, t.cache_write, t.cache_write_1h, t.output, t.reasoning)
    return (1 if call.estimated else 0, -sum(1 for f in fields if f), -(t.prompt_total + t.output))


class _TraceIndex:
    """The spans of each trace in this export, to fill a call's attribution from its trace."""

    def __init__(self, views: list[SpanView], attributions: Mapping[tuple[str, str], TraceAttribution]) -> None:
        self._spans: dict[str, dict[str, SpanView]] = defaultdict(dict)
        for view in views:
            self._spans[view.trace_id][view.span_id] = view
        self._attributions = attributions

    def attribute(self, call: LlmCall) -> LlmCall:
        candidates = self._candidates(call.trace_id, call.span_id)
        route = next((a.route for a in candidates if a.route), None)
        root_name = next((a.root_name for a in candidates if a.root_name), None)
        return dataclasses.replace(
            call,
            user=call.user or next((a.user for a in candidates if a.user), None),
            feature=call.feature or next((a.feature for a in candidates if a.feature), None),
            session=call.session or next((a.session for a in candidates if a.session), None),
            endpoint=call.endpoint or route or root_name,
        )

    def _candidates(self, trace_id: str, span_id: str) -> list[TraceAttribution]:
        """The span itself, then its ancestors nearest first, then the rest of the trace, root first."""
        spans = self._spans[trace_id]
        chain: list[str] = []
        current: str | None = span_id
        while current is not None and current in spans and current not in chain:
            chain.append(current)
            current = spans[current].parent_span_id
        rest = sorted(
            (v for v in spans.values() if v.span_id not in chain),
            key=lambda v: (v.parent_span_id is not None, v.start, v.span_id),
        )
        ordered = chain + [v.span_id for v in rest]
        return [self._attributions[(trace_id, s)] for s in ordered]


def _flatten(request: ExportTraceServiceRequest) -> Iterator[SpanView | RejectedSpan]:
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                problem = _id_problem(span)
                if problem:
                    yield RejectedSpan(span.trace_id.hex(), span.span_id.hex(), problem)
                else:
                    yield _view(span, resource, scope_name)


def _id_problem(span: Span) -> str | None:
    label = f"span {span.span_id.hex() or '(no id)'}"
    if len(span.trace_id) != 16:
        return f"{label}: traceId must be 16 bytes (32 hex chars), got {len(span.trace_id)}"
    if not any(span.trace_id):
        return f"{label}: traceId is all zeros"
    if len(span.span_id) != 8:
        return f"{label}: spanId must be 8 bytes (16 hex chars), got {len(span.span_id)}"
    if not any(span.span_id):
        return f"{label}: spanId is all zeros"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"{label}: parentSpanId must be 8 bytes (16 hex chars), got {len(span.parent_span_id)}"
    return None


def _view(span: Span, resource: Mapping[str, Any], scope_name: str) -> SpanView:
    parent = span.parent_span_id
    return SpanView(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        # Some exporters send an all-zero parent for a root span.
        parent_span_id=parent.hex() if parent and any(parent) else None,
        name=span.name,
        kind=span.kind,
        start=_time(span.start_time_unix_nano),
        end=_time(span.end_time_unix_nano),
        status_error=span.status.code == Status.STATUS_CODE_ERROR,
        attributes=_attributes(span.attributes),
        resource=resource,
        events=[(event.name, _attributes(event.attributes)) for event in span.events],
        scope_name=scope_name,
    )


def _time(unix_nanos: int) -> datetime:
    return _EPOCH + timedelta(microseconds=unix_nanos // 1000)


def _attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)
