"""From a decoded export to canonical calls, trace attribution and rejected spans."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from costwatch.usage.limits import MAX_ATTRIBUTION_CHARS
from ingest.canonical import (
    SPAN_KIND_SERVER,
    DimensionSpec,
    LlmCall,
    MappedExport,
    RejectedSpan,
    SpanView,
    TraceAttribution,
)
from ingest.dialects import DIALECTS, Dialect, InvalidSpan
from ingest.dialects.base import USAGE_ESTIMATED, USAGE_UNKNOWN
from ingest.messages import TokenEstimator, estimate_with_tiktoken, read_messages

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
    dimensions: Sequence[DimensionSpec] = (),
    keep_attributes: bool = True,
    estimate_tokens: TokenEstimator = estimate_with_tiktoken,
) -> MappedExport:
    """Map every span: inference spans become calls, and the spans the rollup needs to resolve
    attribution become attribution rows (see ``needs_storing``).

    A call whose span reports no usage gets its tokens from ``estimate_tokens`` over the span's
    message text (read as its dialect says), marked estimated; without text it stays unknown.

    Each call and row holds only what its own span says (its attributes and its parent): the
    rollup resolves a call's user, feature, endpoint and session through its ancestors and counts
    duplicate recordings of one provider call once, so the result never depends on how the
    exporter batched the trace. An invalid span is rejected alone, with a message.

    ``dimensions`` are the project's custom dimensions: each stored span keeps its own values of
    them, and (with ``keep_attributes``) its short scalar attributes, so a dimension added later
    can be backfilled (``costwatch.usage.dimensions``).
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

    calls: list[LlmCall] = []
    attributions: list[TraceAttribution] = []
    for view in views:
        own = attribution_of(view, feature_keys, user_keys, dimensions)
        problem = _attribution_problem(own)
        if problem:
            rejected.append(RejectedSpan(view.trace_id, view.span_id, problem))
            continue
        dialect = _claiming_dialect(view)
        call = None
        if dialect is not None:
            # A call without a start time is rejected for that, whatever else is wrong with it.
            missing_start = f"span {view.span_id}: start time is missing" if view.start == _EPOCH else None
            try:
                call = dialect.to_call(view)
                if call is not None and missing_start:
                    raise InvalidSpan(missing_start)
            except InvalidSpan as exc:
                rejected.append(RejectedSpan(view.trace_id, view.span_id, missing_start or str(exc)))
                continue
            if call is not None:
                call = _estimated(call, view, dialect, estimate_tokens)
                calls.append(dataclasses.replace(call, user=own.user, feature=own.feature, session=own.session))
        if call is not None or needs_storing(view, own):
            if keep_attributes:
                own = dataclasses.replace(own, attributes=kept_attributes(view))
            attributions.append(own)
    return MappedExport(calls=calls, attributions=attributions, rejected=rejected)


# Attribute prefixes of GenAI instrumentations: their agent, chain, tool and workflow spans sit
# between a request's root and its LLM calls, so they are kept as links of the ancestry.
GENAI_ATTRIBUTE_PREFIXES = ("gen_ai.", "llm.", "openinference.", "traceloop.", "ai.", "logfire.", "langsmith.")


def needs_storing(span: SpanView, own: TraceAttribution) -> bool:
    """Whether a non-LLM span is kept as a link of its trace's ancestry: it carries attribution,
    is a root, or belongs to GenAI instrumentation. Plain HTTP, database and queue spans are not.
    Decided from the span alone, so storage never depends on batching.
    """
    if _contributes(own):
        return True
    return any(key.startswith(GENAI_ATTRIBUTE_PREFIXES) for key in span.attributes)


def _attribution_problem(own: TraceAttribution) -> str | None:
    values = [(name, getattr(own, name)) for name in ("user", "feature", "session", "route", "root_name")]
    values += [("a custom dimension's value", value) for value in own.dimensions.values()]
    for name, value in values:
        if value is not None and len(value) > MAX_ATTRIBUTION_CHARS:
            label = {"root_name": "root span name", "route": "http.route"}.get(name, name)
            return (
                f"span {own.span_id}: {label} is {len(value)} characters; "
                f"Costwatch keeps attribution keys whole up to {MAX_ATTRIBUTION_CHARS} "
                "(the span is not stored: no call of its trace inherits its attribution)"
            )
    return None


def attribution_of(
    span: SpanView, feature_keys: Sequence[str], user_keys: Sequence[str], dimensions: Sequence[DimensionSpec] = ()
) -> TraceAttribution:
    """What this span says about itself: user, feature, session, SERVER route, root name, parent,
    and its values of the project's custom dimensions (span attributes first, then the resource's)."""
    own_dimensions = {}
    for spec in dimensions:
        value = _first_value(span, spec.keys)
        if value is not None:
            own_dimensions[spec.id] = value
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
        parent_span_id=span.parent_span_id,
        start=span.start,
        end=span.end,
        dimensions=own_dimensions,
    )


# Attributes kept for backfilling dimensions: strings and integers (what ``_first_value`` reads) of
# at most this many characters, at most this many keys per span and per resource, and never the
# message content conventions (prompts and completions are not what a dimension reads).
KEPT_ATTRIBUTE_CHARS = 1024
KEPT_ATTRIBUTE_KEYS = 128
CONTENT_ATTRIBUTE_PREFIXES = (
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "llm.input_messages",
    "llm.output_messages",
    "llm.prompts",
    "input.value",
    "output.value",
    "ai.prompt",
    "ai.response",
    "traceloop.entity.input",
    "traceloop.entity.output",
)


def kept_attributes(span: SpanView) -> dict[str, dict[str, str]]:
    """The span's and its resource's short scalar attributes, as strings (see KEPT_ATTRIBUTE_*)."""
    return {"span": _kept(span.attributes), "resource": _kept(span.resource)}


def _kept(source: Mapping[str, Any]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for key, value in source.items():
        if len(kept) >= KEPT_ATTRIBUTE_KEYS:
            break
        if isinstance(value, bool) or key.startswith(CONTENT_ATTRIBUTE_PREFIXES):
            continue
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str) and value.strip() and len(value) <= KEPT_ATTRIBUTE_CHARS:
            kept[key] = value.strip()
    return kept


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
        (
            attribution.user,
            attribution.feature,
            attribution.session,
            attribution.route,
            attribution.root_name,
            attribution.dimensions,
        )
    )


def _claiming_dialect(span: SpanView) -> Dialect | None:
    return next((dialect for dialect in DIALECTS if dialect.claims(span)), None)


def _estimated(call: LlmCall, span: SpanView, dialect: Dialect, estimate_tokens: TokenEstimator) -> LlmCall:
    """``call`` with tokens counted from its message text when the span reported no usage."""
    if call.usage_state != USAGE_UNKNOWN:
        return call
    text = read_messages(span, dialect.message_formats)
    if not text.prompt and not text.completion:
        return call
    return dataclasses.replace(call, tokens=estimate_tokens(call.model, text), usage_state=USAGE_ESTIMATED)


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
