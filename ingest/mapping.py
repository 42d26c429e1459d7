"""From a decoded export to canonical calls, trace attribution and rejected spans.

An app that points its whole OpenTelemetry pipeline at Costwatch sends mostly HTTP, database and
queue spans. Those are dropped on the protobuf, before anything converts them (``_plain``): a span
that is not a root, carries no attribute key a dialect claims spans by (``ingest.dialects.CLAIM_KEYS``),
none that attribution reads (the standard, configured, dialect and custom-dimension keys, and
``http.route``) and none a GenAI instrumentation writes (``GENAI_ATTRIBUTE_PREFIXES``), in a
resource that gives no attribution, can be neither a call nor a stored row, so dropping it changes
nothing ``map_export`` returns. ``bench/mapping_filter.py`` measures both paths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
from ingest.dialects import CLAIM_KEYS, DIALECTS, Dialect, InvalidSpan, claiming_dialect
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
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                if _id_problem(span) is None:
                    yield _view(span, resource, scope_name)


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
    exporter batched the trace. An invalid span is rejected alone, with a message; the spans with
    invalid ids come first in ``rejected``. Of spans sharing ids, the first is mapped.

    ``dimensions`` are the project's custom dimensions: each stored span keeps its own values of
    them, and (with ``keep_attributes``) its short scalar attributes, so a dimension added later
    can be backfilled (``costwatch.usage.dimensions``).

    Plain spans (HTTP, database, queue ...) are dropped before they are converted (see above).
    """
    mapping = _ExportMapping(_attribution_keys(feature_keys, user_keys, dimensions), keep_attributes, estimate_tokens)
    id_rejected: list[RejectedSpan] = []
    seen: set[tuple[bytes, bytes]] = set()
    for resource_spans in request.resource_spans:
        resource = mapping.resource(_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                problem = _id_problem(span)
                if problem:
                    id_rejected.append(RejectedSpan(span.trace_id.hex(), span.span_id.hex(), problem))
                    continue
                ids = (span.trace_id, span.span_id)
                if ids in seen:
                    continue
                seen.add(ids)
                if resource.has_plain_spans and _plain(span, mapping.matters):
                    continue
                mapping.add(_view(span, resource.attributes, scope_name), resource)
    mapped = mapping.mapped
    if id_rejected:
        mapped.rejected[:0] = id_rejected
    return mapped


@dataclass(frozen=True)
class _Resource:
    """What the spans of one resource share."""

    attributes: dict[str, Any]
    inherited: _Inherited  # the attribution it gives every span that does not say its own
    kept: dict[str, str] | None  # its kept attributes (``kept_attributes``), None when not kept
    # A resource that gives attribution gives it to every span of it: then no span of it is plain.
    has_plain_spans: bool


class _ExportMapping:
    """One export's mapping under way: the keys it reads and what it has mapped so far."""

    def __init__(self, keys: _AttributionKeys, keep_attributes: bool, estimate_tokens: TokenEstimator) -> None:
        self.keys = keys
        self.keep_attributes = keep_attributes
        self.estimate_tokens = estimate_tokens
        self.matters = _KeyTest(keys.matters)
        self.never_kept = _KeyTest(_never_kept)
        self.mapped = MappedExport(calls=[], attributions=[], rejected=[])

    def resource(self, attributes: dict[str, Any]) -> _Resource:
        inherited = _read_attribution(attributes, self.keys, _NOTHING_INHERITED)
        kept = _kept(attributes, self.never_kept) if self.keep_attributes else None
        return _Resource(attributes, inherited, kept, has_plain_spans=not _gives_attribution(inherited))

    def add(self, view: SpanView, resource: _Resource) -> None:
        """Add what one span gives: a call, an attribution row, or a rejection."""
        mapped = self.mapped
        user, feature, session, dimensions = _read_attribution(view.attributes, self.keys, resource.inherited)
        route, root_name = _route(view), _root_name(view)
        contributes = bool(user or feature or session or route or root_name or dimensions)
        if contributes:
            problem = _attribution_problem(view.span_id, user, feature, session, route, root_name, dimensions)
            if problem:
                mapped.rejected.append(RejectedSpan(view.trace_id, view.span_id, problem))
                return
        dialect = claiming_dialect(view)
        call = None
        if dialect is not None:
            # A call without a start time is rejected for that, whatever else is wrong with it.
            missing_start = f"span {view.span_id}: start time is missing" if view.start == _EPOCH else None
            try:
                call = dialect.to_call(view)
                if call is not None and missing_start:
                    raise InvalidSpan(missing_start)
            except InvalidSpan as exc:
                mapped.rejected.append(RejectedSpan(view.trace_id, view.span_id, missing_start or str(exc)))
                return
            if call is not None:
                call = _estimated(call, view, dialect, self.estimate_tokens)
                if (call.user, call.feature, call.session) != (user, feature, session):
                    call = dataclasses.replace(call, user=user, feature=feature, session=session)
                mapped.calls.append(call)
        if call is not None or contributes or _in_genai_family(view.attributes):
            attributes = None
            if resource.kept is not None:
                attributes = {"span": _kept(view.attributes, self.never_kept), "resource": resource.kept}
            mapped.attributions.append(
                TraceAttribution(
                    trace_id=view.trace_id,
                    span_id=view.span_id,
                    user=user,
                    feature=feature,
                    session=session,
                    route=route,
                    root_name=root_name,
                    parent_span_id=view.parent_span_id,
                    start=view.start,
                    end=view.end,
                    dimensions=dimensions,
                    attributes=attributes,
                )
            )


# Attribute prefixes of GenAI instrumentations: their agent, chain, tool and workflow spans sit
# between a request's root and its LLM calls, so they are kept as links of the ancestry.
GENAI_ATTRIBUTE_PREFIXES = ("gen_ai.", "llm.", "openinference.", "traceloop.", "ai.", "logfire.", "langsmith.")
ROUTE_KEY = "http.route"


def needs_storing(span: SpanView, own: TraceAttribution) -> bool:
    """Whether a non-LLM span is kept as a link of its trace's ancestry: it carries attribution,
    is a root, or belongs to GenAI instrumentation. Plain HTTP, database and queue spans are not.
    Decided from the span alone, so storage never depends on batching.
    """
    if _contributes(own):
        return True
    return _in_genai_family(span.attributes)


def _in_genai_family(attributes: Iterable[str]) -> bool:
    return any(key.startswith(GENAI_ATTRIBUTE_PREFIXES) for key in attributes)


def _plain(span: Span, matters: Mapping[str, bool]) -> bool:
    """A span that can be neither a call nor a stored row, told from the protobuf before any
    conversion (its ids are valid, and its resource gives no attribution): not a root, and no
    attribute key that ``matters`` (``_AttributionKeys.matters``)."""
    parent = span.parent_span_id
    if not parent or parent == _NO_SPAN_ID:
        return False
    for key_value in span.attributes:  # noqa: SIM110 - any() over a generator costs twice this loop
        if matters[key_value.key]:
            return False
    return True


class _KeyTest(dict[str, bool]):
    """A test of attribute keys that remembers its answers: an export repeats a few dozen keys over
    all its spans. One per export, so it never outgrows the export."""

    def __init__(self, test: Callable[[str], bool]) -> None:
        super().__init__()
        self._test = test

    def __missing__(self, key: str) -> bool:
        answer = self[key] = self._test(key)
        return answer


def _attribution_problem(
    span_id: str,
    user: str | None,
    feature: str | None,
    session: str | None,
    route: str | None,
    root_name: str | None,
    dimensions: Mapping[str, str],
) -> str | None:
    lengths = (len(user or ""), len(feature or ""), len(session or ""), len(route or ""), len(root_name or ""))
    if max(*lengths, *map(len, dimensions.values())) <= MAX_ATTRIBUTION_CHARS:
        return None
    values = [("user", user), ("feature", feature), ("session", session), ("route", route), ("root_name", root_name)]
    values += [("a custom dimension's value", value) for value in dimensions.values()]
    for name, value in values:
        if value is not None and len(value) > MAX_ATTRIBUTION_CHARS:
            label = {"root_name": "root span name", "route": "http.route"}.get(name, name)
            return (
                f"span {span_id}: {label} is {len(value)} characters; "
                f"Costwatch keeps attribution keys whole up to {MAX_ATTRIBUTION_CHARS} "
                "(the span is not stored: no call of its trace inherits its attribution)"
            )
    return None


def attribution_of(
    span: SpanView, feature_keys: Sequence[str], user_keys: Sequence[str], dimensions: Sequence[DimensionSpec] = ()
) -> TraceAttribution:
    """What this span says about itself: user, feature, session, SERVER route, root name, parent,
    and its values of the project's custom dimensions (span attributes first, then the resource's)."""
    keys = _attribution_keys(feature_keys, user_keys, dimensions)
    inherited = _read_attribution(span.resource, keys, _NOTHING_INHERITED)
    user, feature, session, own_dimensions = _read_attribution(span.attributes, keys, inherited)
    return TraceAttribution(
        trace_id=span.trace_id,
        span_id=span.span_id,
        user=user,
        feature=feature,
        session=session,
        route=_route(span),
        root_name=_root_name(span),
        parent_span_id=span.parent_span_id,
        start=span.start,
        end=span.end,
        dimensions=own_dimensions,
    )


def _route(span: SpanView) -> str | None:
    # Client spans carry the provider's route (the anthropic SDK sets /v1/messages).
    route = span.attributes.get(ROUTE_KEY)
    return route if span.kind == SPAN_KIND_SERVER and isinstance(route, str) and route else None


def _root_name(span: SpanView) -> str | None:
    return (span.name or None) if span.parent_span_id is None else None


@dataclass(frozen=True)
class _AttributionKeys:
    """The attribute keys one export's attribution reads, each list in order of precedence."""

    user: tuple[str, ...]
    feature: tuple[str, ...]
    session: tuple[str, ...]
    dimensions: tuple[DimensionSpec, ...]
    read: frozenset[str]  # every key above
    # Besides those, the SERVER route and every key a dialect claims spans by.
    interesting: frozenset[str]

    def matters(self, key: str) -> bool:
        """Whether a span carrying this attribute may be a call or a stored row, wherever it is in
        its trace: a key that a dialect claims spans by, that attribution reads, or that a GenAI
        instrumentation writes (``needs_storing``)."""
        return key in self.interesting or key.startswith(GENAI_ATTRIBUTE_PREFIXES)


def _attribution_keys(
    feature_keys: Sequence[str], user_keys: Sequence[str], dimensions: Sequence[DimensionSpec]
) -> _AttributionKeys:
    user = (*STANDARD_USER_KEYS, *user_keys, *_DIALECT_USER_KEYS)
    feature = (*feature_keys, *_DIALECT_FEATURE_KEYS)
    session = (*STANDARD_SESSION_KEYS, *_DIALECT_SESSION_KEYS)
    read = frozenset((*user, *feature, *session, *(key for spec in dimensions for key in spec.keys)))
    return _AttributionKeys(user, feature, session, tuple(dimensions), read, read | {ROUTE_KEY} | CLAIM_KEYS)


# (user, feature, session, {dimension id: value}) as a span or resource gives them.
_Inherited = tuple[str | None, str | None, str | None, dict[str, str]]
_NOTHING_INHERITED: _Inherited = (None, None, None, {})


def _read_attribution(attributes: Mapping[str, Any], keys: _AttributionKeys, inherited: _Inherited) -> _Inherited:
    """The user, feature, session and dimension values ``attributes`` give (the first key of each
    list that holds a value), each one they do not give taken from ``inherited`` (the resource's)."""
    user, feature, session, dimensions = inherited
    if keys.read.isdisjoint(attributes):
        return user, feature, session, dict(dimensions)
    own_dimensions = {}
    for spec in keys.dimensions:
        value = _first_value(attributes, spec.keys) or dimensions.get(spec.id)
        if value is not None:
            own_dimensions[spec.id] = value
    return (
        _first_value(attributes, keys.user) or user,
        _first_value(attributes, keys.feature) or feature,
        _first_value(attributes, keys.session) or session,
        own_dimensions,
    )


def _gives_attribution(inherited: _Inherited) -> bool:
    user, feature, session, dimensions = inherited
    return bool(user or feature or session or dimensions)


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
    never_kept = _KeyTest(_never_kept)
    return {"span": _kept(span.attributes, never_kept), "resource": _kept(span.resource, never_kept)}


def _never_kept(key: str) -> bool:
    """Message content (prompts and completions are not what a dimension reads), and a key that
    PostgreSQL cannot store as text (NUL)."""
    return key.startswith(CONTENT_ATTRIBUTE_PREFIXES) or "\x00" in key


def _kept(source: Mapping[str, Any], never_kept: Mapping[str, bool]) -> dict[str, str]:
    # A value holding NUL is left out, as PostgreSQL cannot store it: the span itself is kept.
    kept: dict[str, str] = {}
    for key, value in source.items():
        if len(kept) >= KEPT_ATTRIBUTE_KEYS:
            break
        if isinstance(value, str):
            if len(value) <= KEPT_ATTRIBUTE_CHARS and not never_kept[key] and "\x00" not in value:
                value = value.strip()
                if value:
                    kept[key] = value
        elif isinstance(value, int) and not isinstance(value, bool) and not never_kept[key]:
            value = str(value)
            if len(value) <= KEPT_ATTRIBUTE_CHARS:
                kept[key] = value
    return kept


def _first_value(source: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    """The value of the first of ``keys`` that ``source`` holds as an integer or a non-blank
    string, as a stripped string; None when none does."""
    for key in keys:
        value = source.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            value = value.strip()
            if value:
                return value
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


def _estimated(call: LlmCall, span: SpanView, dialect: Dialect, estimate_tokens: TokenEstimator) -> LlmCall:
    """``call`` with tokens counted from its message text when the span reported no usage."""
    if call.usage_state != USAGE_UNKNOWN:
        return call
    text = read_messages(span, dialect.message_formats)
    if not text.prompt and not text.completion:
        return call
    return dataclasses.replace(call, tokens=estimate_tokens(call.model, text), usage_state=USAGE_ESTIMATED)


_NO_TRACE_ID = bytes(16)
_NO_SPAN_ID = bytes(8)


def _id_problem(span: Span) -> str | None:
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if (
        len(trace_id) == 16
        and len(span_id) == 8
        and trace_id != _NO_TRACE_ID
        and span_id != _NO_SPAN_ID
        and (not parent or len(parent) == 8)
    ):
        return None
    label = f"span {span_id.hex() or '(no id)'}"
    if len(trace_id) != 16:
        return f"{label}: traceId must be 16 bytes (32 hex chars), got {len(trace_id)}"
    if trace_id == _NO_TRACE_ID:
        return f"{label}: traceId is all zeros"
    if len(span_id) != 8:
        return f"{label}: spanId must be 8 bytes (16 hex chars), got {len(span_id)}"
    if span_id == _NO_SPAN_ID:
        return f"{label}: spanId is all zeros"
    return f"{label}: parentSpanId must be 8 bytes (16 hex chars), got {len(parent)}"


def _view(span: Span, resource: Mapping[str, Any], scope_name: str) -> SpanView:
    parent = span.parent_span_id
    return SpanView(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        # Some exporters send an all-zero parent for a root span.
        parent_span_id=parent.hex() if parent and parent != _NO_SPAN_ID else None,
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
    return _EPOCH + timedelta(0, 0, unix_nanos // 1000)  # (days, seconds, microseconds): positional is faster


def _attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    # A non-empty string_value is the string of the oneof: most attributes, read without WhichOneof.
    return {kv.key: (value := kv.value).string_value or _value(value) for kv in key_values}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)
