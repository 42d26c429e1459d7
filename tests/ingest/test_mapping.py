from __future__ import annotations

import json
from datetime import timezone
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind

from costwatch.pricing.cost import TokenCounts
from ingest import mapping
from ingest.canonical import DimensionSpec, MappedExport
from ingest.dialects import DIALECTS, claiming_dialect
from ingest.mapping import attribution_of, map_export, span_views
from ingest.otlp import MalformedExport, parse_export
from tests.conftest import REPO


def openai_v2_chat(**extra: object) -> dict:
    """What opentelemetry-instrumentation-openai-v2 2.4b0 puts on a chat span."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 50,
        "server.address": "api.openai.com",
        **extra,
    }


def test_span_views_flatten_resource_scope_and_span(recorder) -> None:
    with recorder.span("POST /checkout", {"http.route": "/checkout"}, kind=SpanKind.SERVER):
        recorder.record(
            "chat gpt-4o",
            openai_v2_chat(),
            kind=SpanKind.CLIENT,
            scope="opentelemetry.instrumentation.openai_v2",
            events=[("gen_ai.user.message", {"content": "hi"})],
            error=True,
        )
    server, chat = sorted(span_views(recorder.request()), key=lambda v: v.parent_span_id is not None)
    assert server.parent_span_id is None
    assert chat.parent_span_id == server.span_id
    assert chat.trace_id == server.trace_id and len(chat.trace_id) == 32 and chat.trace_id == chat.trace_id.lower()
    assert len(chat.span_id) == 16
    assert chat.kind == 3 and server.kind == 2
    assert chat.scope_name == "opentelemetry.instrumentation.openai_v2"
    assert chat.resource["service.name"] == "shop-api"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 1000
    assert chat.events == [("gen_ai.user.message", {"content": "hi"})]
    assert chat.status_error and not server.status_error
    assert chat.start.tzinfo == timezone.utc and chat.end >= chat.start


def test_call_inherits_route_user_and_feature_from_the_server_span(recorder, acme) -> None:
    server_attrs = {"http.route": "/api/summarize", "enduser.id": "user-42", "costwatch.feature": "summaries"}
    with recorder.span("POST /api/summarize", server_attrs, kind=SpanKind.SERVER):
        with recorder.span("summarize_document"):
            recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    own = recorder.only_call()
    assert (own.user, own.feature, own.endpoint) == (None, None, None)  # ingest stores what the span says
    call = recorder.only_resolved(acme)
    assert call.endpoint == "/api/summarize"
    assert call.user == "user-42"
    assert call.feature == "summaries"
    assert call.call.service == "shop-api"


def test_anthropic_client_route_never_becomes_the_endpoint(recorder, acme) -> None:
    with recorder.span("handle_job"):
        recorder.record(
            "anthropic.messages.create",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
                "http.route": "/v1/messages",
            },
            kind=SpanKind.CLIENT,
        )
    result = recorder.mapped()
    assert all(a.route is None for a in result.attributions)
    assert recorder.only_resolved(acme).endpoint == "handle_job"


def test_root_span_name_is_the_endpoint_without_a_server_route(recorder, acme) -> None:
    with recorder.span("nightly-digest-job"):
        recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    assert recorder.only_resolved(acme).endpoint == "nightly-digest-job"


def test_nearest_ancestor_wins_over_other_spans_of_the_trace(recorder, acme) -> None:
    with recorder.span("POST /team", {"http.route": "/team", "enduser.id": "owner"}, kind=SpanKind.SERVER):
        with recorder.span("for-member", {"enduser.id": "member-7", "app.feature": "digest"}):
            recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
        recorder.record("chat gpt-4o", openai_v2_chat(**{"gen_ai.response.id": "chatcmpl-2"}), kind=SpanKind.CLIENT)
    calls = {c.call.response_id: c for c in recorder.resolved(acme)}
    assert calls["chatcmpl-1"].user == "member-7"
    assert calls["chatcmpl-1"].feature == "digest"
    assert calls["chatcmpl-2"].user == "owner"
    assert calls["chatcmpl-2"].feature == ""  # "digest" is on a sibling branch, not an ancestor


def test_attributions_list_what_each_span_contributes(recorder) -> None:
    with recorder.span("POST /chat", {"http.route": "/chat", "session.id": "s-1"}, kind=SpanKind.SERVER):
        recorder.record("db.query", {"db.system": "postgresql"})
    result = recorder.mapped()
    assert result.calls == []
    [attribution] = result.attributions
    assert attribution.route == "/chat"
    assert attribution.session == "s-1"
    assert attribution.root_name == "POST /chat"


def test_agent_parent_and_chat_child_are_charged_once(recorder, acme) -> None:
    agent = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 50,
    }
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"}
    with recorder.span("invoke_agent support", agent):
        recorder.record("execute_tool lookup_order", tool)
        recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    call = recorder.only_resolved(acme)
    assert (call.call.input_tokens, call.call.output_tokens) == (1000, 50)
    assert call.endpoint == "invoke_agent support"


def test_duplicate_sibling_spans_with_one_response_id_are_counted_once(recorder, acme) -> None:
    sdk_span = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.id": "msg_01",
        "gen_ai.usage.input_tokens": 3010,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_read.input_tokens": 3000,
        "http.route": "/v1/messages",
    }
    instrumentation_span = {
        "gen_ai.system": "Anthropic",
        "llm.request.type": "completion",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.id": "msg_01",
        "gen_ai.usage.input_tokens": 3010,
        "gen_ai.usage.output_tokens": 200,
    }
    with recorder.span("POST /ask", {"http.route": "/ask"}, kind=SpanKind.SERVER):
        recorder.record("anthropic.messages.create", sdk_span, kind=SpanKind.CLIENT)
        recorder.record("anthropic.chat", instrumentation_span, kind=SpanKind.CLIENT)
        recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    calls = [c.call for c in recorder.resolved(acme)]
    assert sorted(c.response_id for c in calls) == ["chatcmpl-1", "msg_01"]
    kept = next(c for c in calls if c.response_id == "msg_01")
    assert kept.cache_read_tokens == 3000  # the span with the more complete usage
    assert kept.dialect == "otel_genai"


def test_duplicate_tie_is_broken_by_span_id(recorder, acme) -> None:
    with recorder.span("job"):
        recorder.record("chat a", openai_v2_chat(), kind=SpanKind.CLIENT)
        recorder.record("chat b", openai_v2_chat(), kind=SpanKind.CLIENT)
    views = [v for v in span_views(recorder.request()) if v.parent_span_id]
    [call] = recorder.resolved(acme)
    assert call.call.span_id == min(v.span_id for v in views)


def test_same_response_id_in_different_traces_is_kept(recorder) -> None:
    recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    assert len(recorder.mapped().calls) == 2


def test_invalid_spans_are_rejected_one_by_one_and_the_rest_kept(recorder) -> None:
    with recorder.span("POST /batch", {"http.route": "/batch"}, kind=SpanKind.SERVER):
        recorder.record("chat ok", openai_v2_chat(), kind=SpanKind.CLIENT)
        recorder.record("chat negative", openai_v2_chat(**{"gen_ai.usage.input_tokens": -5}), kind=SpanKind.CLIENT)
        recorder.record(
            "chat nan", openai_v2_chat(**{"gen_ai.usage.output_tokens": float("nan")}), kind=SpanKind.CLIENT
        )
        recorder.record("chat absurd", openai_v2_chat(**{"gen_ai.usage.input_tokens": 10**12}), kind=SpanKind.CLIENT)
        recorder.record("chat text", openai_v2_chat(**{"gen_ai.usage.input_tokens": "12abc"}), kind=SpanKind.CLIENT)
        recorder.record("chat half", openai_v2_chat(**{"gen_ai.usage.output_tokens": 2.5}), kind=SpanKind.CLIENT)
        recorder.record(
            "chat string int",
            openai_v2_chat(**{"gen_ai.usage.input_tokens": "77", "gen_ai.response.id": "chatcmpl-2"}),
            kind=SpanKind.CLIENT,
        )
    result = recorder.mapped()
    names = {v.span_id: v.name for v in span_views(recorder.request())}
    reasons = {names[r.span_id]: r.reason for r in result.rejected}
    assert reasons == {
        "chat negative": f"span {_id(result, names, 'chat negative')}: gen_ai.usage.input_tokens is negative (-5)",
        "chat nan": f"span {_id(result, names, 'chat nan')}: gen_ai.usage.output_tokens is not a finite number (nan)",
        "chat absurd": f"span {_id(result, names, 'chat absurd')}: gen_ai.usage.input_tokens is absurdly large "
        f"({10**12})",
        "chat text": f"span {_id(result, names, 'chat text')}: gen_ai.usage.input_tokens is not an integer ('12abc')",
        "chat half": f"span {_id(result, names, 'chat half')}: gen_ai.usage.output_tokens is not an integer (2.5)",
    }
    kept = sorted(names[c.span_id] for c in result.calls)
    assert kept == ["chat ok", "chat string int"]
    assert next(c for c in result.calls if names[c.span_id] == "chat string int").tokens.input == 77
    assert any(a.route == "/batch" for a in result.attributions)


def _id(result, names: dict[str, str], name: str) -> str:
    return next(span_id for span_id, n in names.items() if n == name)


def test_invalid_ids_are_rejected_and_the_rest_kept(recorder) -> None:
    recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    request = recorder.request()
    spans = request.resource_spans[0].scope_spans[0].spans
    good = spans[0]
    spans.add().CopyFrom(good)
    spans[1].trace_id = b"\x00" * 16
    spans.add().CopyFrom(good)
    spans[2].span_id = b"\x01\x02\x03"
    spans.add().CopyFrom(good)
    spans[3].span_id = b"\x00" * 8
    spans.add().CopyFrom(good)
    spans[4].trace_id = b"\x01" * 15
    result = map_export(parse_export(request.SerializeToString(), "application/x-protobuf"))
    assert [c.span_id for c in result.calls] == [good.span_id.hex()]
    reasons = [r.reason for r in result.rejected]
    assert reasons == [
        f"span {good.span_id.hex()}: traceId is all zeros",
        "span 010203: spanId must be 8 bytes (16 hex chars), got 3",
        "span 0000000000000000: spanId is all zeros",
        f"span {good.span_id.hex()}: traceId must be 16 bytes (32 hex chars), got 15",
    ]


def test_a_span_seen_twice_in_one_export_is_mapped_once(recorder) -> None:
    recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    request = recorder.request()
    request.resource_spans.add().CopyFrom(request.resource_spans[0])
    assert len(map_export(request).calls) == 1


def test_llm_span_without_start_time_is_rejected(recorder) -> None:
    recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    request = recorder.request()
    request.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 0
    [rejected] = map_export(request).rejected
    assert rejected.reason.endswith("start time is missing")


def test_response_cache_hit_keeps_tokens(recorder) -> None:
    recorder.record("chat gpt-4o", openai_v2_chat(**{"costwatch.cache.hit": True}), kind=SpanKind.CLIENT)
    recorder.record(
        "chat gpt-4o",
        openai_v2_chat(**{"costwatch.cache.hit": "true", "gen_ai.response.id": "chatcmpl-9"}),
        kind=SpanKind.CLIENT,
    )
    calls = recorder.mapped().calls
    assert [c.response_cache_hit for c in calls] == [True, True]
    assert all(c.tokens.input == 1000 for c in calls)


def test_configurable_feature_and_user_keys(recorder) -> None:
    with recorder.span("POST /x", {"http.route": "/x", "tenant.user": "u-9", "billing.feature": "export"}):
        recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    assert recorder.mapped().attributions[0].user is None
    configured = recorder.mapped(feature_keys=("billing.feature",), user_keys=("tenant.user",))
    root = next(a for a in configured.attributions if a.parent_span_id is None)
    assert root.user == "u-9"
    assert root.feature == "export"


def test_attribution_of_reads_every_dialects_keys(recorder) -> None:
    recorder.record(
        "workflow",
        {
            "traceloop.association.properties.user_id": "tl-user",
            "traceloop.association.properties.session_id": "tl-session",
            "traceloop.association.properties.feature": "tl-feature",
        },
    )
    recorder.record(
        "ai.generateText",
        {
            "ai.operationId": "ai.generateText",
            "ai.telemetry.metadata.userId": "v-user",
            "ai.telemetry.metadata.sessionId": "v-session",
            "ai.telemetry.metadata.feature": "v-feature",
        },
    )
    recorder.record("chat", {"gen_ai.user": "gen-user", "gen_ai.conversation.id": "conv-1", "user.id": 12345})
    found = {v.name: attribution_of(v, ("costwatch.feature",), ()) for v in span_views(recorder.request())}
    assert (found["workflow"].user, found["workflow"].session, found["workflow"].feature) == (
        "tl-user",
        "tl-session",
        "tl-feature",
    )
    assert (found["ai.generateText"].user, found["ai.generateText"].session) == ("v-user", "v-session")
    assert found["ai.generateText"].feature == "v-feature"
    assert (found["chat"].user, found["chat"].session) == ("12345", "conv-1")


def test_feature_can_come_from_the_resource(make_recorder) -> None:
    recorder = make_recorder(service="digest-worker", resource={"app.feature": "weekly-digest"})
    recorder.record("chat gpt-4o", openai_v2_chat(), kind=SpanKind.CLIENT)
    call = recorder.only_call()
    assert call.feature == "weekly-digest"
    assert call.service == "digest-worker"


def test_empty_export_maps_to_nothing() -> None:
    result = map_export(parse_export(b"", "application/json"))
    assert (result.calls, result.attributions, result.rejected) == ([], [], [])


def test_json_export_maps_like_protobuf() -> None:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "node-api"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "ai"},
                        "spans": [
                            {
                                "traceId": "0AF7651916CD43DD8448EB211C80319C",
                                "spanId": "B7AD6B7169203331",
                                "name": "POST /api/chat",
                                "kind": 2,
                                "startTimeUnixNano": "1735689600000000000",
                                "endTimeUnixNano": "1735689602000000000",
                                "attributes": [{"key": "http.route", "value": {"stringValue": "/api/chat"}}],
                            },
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "00f067aa0ba902b7",
                                "parentSpanId": "b7ad6b7169203331",
                                "name": "chat gpt-4o-mini",
                                "kind": 3,
                                "startTimeUnixNano": "1735689600100000000",
                                "endTimeUnixNano": "1735689601900000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "2000"}},
                                    {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "1024"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 120}},
                                ],
                                "status": {"code": 2, "message": "rate limited"},
                            },
                        ],
                    }
                ],
            }
        ]
    }
    request = parse_export(json.dumps(document).encode(), "application/json")
    [call] = map_export(request).calls
    assert call.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert call.parent_span_id == "b7ad6b7169203331"
    assert call.service == "node-api"
    assert call.tokens == TokenCounts(input=976, cache_read=1024, output=120)
    assert call.is_error
    assert call.start.isoformat() == "2025-01-01T00:00:00.100000+00:00"


# The plain-span filter: spans that can be neither a call nor a stored row are dropped unconverted.

PLAIN = {
    "SELECT orders": ({"db.system": "postgresql", "db.query.text": "SELECT * FROM orders"}, SpanKind.CLIENT),
    "GET": ({"http.request.method": "GET", "url.full": "https://inventory.internal/items/42"}, SpanKind.CLIENT),
    "orders publish": ({"messaging.system": "kafka", "messaging.destination.name": "orders"}, SpanKind.PRODUCER),
    "render": ({}, SpanKind.INTERNAL),
}
FILTER_KEYS = {
    "user_keys": ("tenant.user",),
    "feature_keys": ("team.feature",),
    "dimensions": (DimensionSpec("7", ("app.tenant",)),),
}


def _unfiltered(monkeypatch: pytest.MonkeyPatch, request: ExportTraceServiceRequest, **kwargs: Any) -> MappedExport:
    with monkeypatch.context() as off:
        off.setattr(mapping, "_plain", lambda span, matters: False)
        return map_export(request, **kwargs)


def _converted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the spans ``map_export`` converts from now on, in order."""
    names: list[str] = []
    real_view = mapping._view

    def counting_view(span, resource, scope_name):  # noqa: ANN001, ANN202
        names.append(span.name)
        return real_view(span, resource, scope_name)

    monkeypatch.setattr(mapping, "_view", counting_view)
    return names


def test_plain_spans_are_dropped_unconverted_and_nothing_else_changes(recorder, monkeypatch) -> None:
    kept = {
        "client with a route": ({"http.route": "/v1/messages"}, SpanKind.CLIENT),  # converted, not stored
        "user": ({"enduser.id": "u-7"}, SpanKind.INTERNAL),
        "configured user": ({"tenant.user": "t-user"}, SpanKind.INTERNAL),
        "configured feature": ({"team.feature": "search"}, SpanKind.INTERNAL),
        "dimension": ({"app.tenant": "t1"}, SpanKind.INTERNAL),
        "session": ({"session.id": "s-1"}, SpanKind.INTERNAL),
        "vercel user": ({"ai.telemetry.metadata.userId": "v-user"}, SpanKind.INTERNAL),
        "tool": ({"traceloop.span.kind": "tool"}, SpanKind.INTERNAL),
        "logfire": ({"logfire.msg": "step"}, SpanKind.INTERNAL),
        "execute_tool": ({"gen_ai.operation.name": "execute_tool"}, SpanKind.INTERNAL),
        "chat": (openai_v2_chat(), SpanKind.CLIENT),
        "traceloop chat": (
            {"llm.request.type": "chat", "gen_ai.system": "OpenAI", "gen_ai.request.model": "gpt-4o"},
            SpanKind.CLIENT,
        ),
        "openinference llm": (
            {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 10},
            SpanKind.INTERNAL,
        ),
        "vercel call": (
            {"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": 10},
            SpanKind.CLIENT,
        ),
    }
    with recorder.span("POST /api/chat", {"http.route": "/api/chat"}, kind=SpanKind.SERVER):
        for name, (attributes, kind) in [*PLAIN.items(), *kept.items(), *PLAIN.items()]:
            recorder.record(name, attributes, kind=kind)
    recorder.record("redis GET", {"db.system": "redis"}, kind=SpanKind.CLIENT)  # a root: its name is the endpoint
    request = recorder.request()
    converted = _converted(monkeypatch)

    filtered = map_export(request, **FILTER_KEYS)

    assert sorted(converted) == sorted([*kept, "POST /api/chat", "redis GET"])
    assert filtered == _unfiltered(monkeypatch, request, **FILTER_KEYS)
    assert len(converted) == 2 * len(kept) + 4 + 2 * len(PLAIN)  # without the filter every span is converted
    assert len(filtered.calls) == 4 and not filtered.rejected
    names = {view.span_id: view.name for view in span_views(request)}
    assert sorted(names[a.span_id] for a in filtered.attributions) == sorted(
        [*(set(kept) - {"client with a route"}), "POST /api/chat", "redis GET"]
    )


@pytest.mark.parametrize(
    "resource",
    [{"enduser.id": "from-resource"}, {"tenant.user": "t-user"}, {"app.tenant": "t1"}, {"team.feature": "x"}],
)
def test_a_resource_that_gives_attribution_keeps_every_span_of_it(make_recorder, monkeypatch, resource) -> None:
    recorder = make_recorder(resource=resource)
    with recorder.span("POST /api/chat", {"http.route": "/api/chat"}, kind=SpanKind.SERVER):
        for name, (attributes, kind) in PLAIN.items():
            recorder.record(name, attributes, kind=kind)
    request = recorder.request()
    converted = _converted(monkeypatch)

    filtered = map_export(request, **FILTER_KEYS)

    assert len(converted) == len(filtered.attributions) == len(PLAIN) + 1
    assert filtered == _unfiltered(monkeypatch, request, **FILTER_KEYS)


def test_a_dropped_plain_span_still_holds_its_ids_against_a_later_duplicate(recorder, monkeypatch) -> None:
    with recorder.span("POST /api/chat", {"http.route": "/api/chat"}, kind=SpanKind.SERVER):
        recorder.record("GET", PLAIN["GET"][0], kind=SpanKind.CLIENT)
        recorder.record("chat", openai_v2_chat(), kind=SpanKind.CLIENT)
    request = recorder.request()
    plain, chat, _ = request.resource_spans[0].scope_spans[0].spans
    assert (plain.name, chat.name) == ("GET", "chat")
    chat.span_id = plain.span_id  # the first span with an id is the one mapped, plain or not

    filtered = map_export(request)

    assert filtered == _unfiltered(monkeypatch, request)
    assert filtered.calls == [] and len(filtered.attributions) == 1


CASES = REPO.parent / "shared" / "cases"


def _case_exports() -> list[tuple[str, ExportTraceServiceRequest]]:
    """The handed span and reliability cases that are OTLP exports (the others are refused before mapping)."""
    exports = []
    for path in sorted([*CASES.glob("spans/*.json"), *CASES.glob("reliability/*.json")]):
        try:
            exports.append((path.name, parse_export(path.read_bytes(), "application/json")))
        except MalformedExport:
            assert path.name.startswith("json_lone_surrogate"), path
    return exports


def test_every_case_maps_the_same_with_the_filter(monkeypatch) -> None:
    cases = _case_exports()
    assert len(cases) == 10
    for name, request in cases:
        filtered = map_export(request)
        assert filtered == _unfiltered(monkeypatch, request), name
        assert filtered.calls or filtered.rejected, name


def test_each_dialect_claims_only_spans_with_its_claim_keys() -> None:
    """The registry asks a dialect only about spans carrying one of its ``claim_keys``, and the filter
    drops spans carrying none: a dialect that claimed a span without one would lose it."""
    claimed = {dialect.name: 0 for dialect in DIALECTS}
    for _, request in _case_exports():
        for view in span_views(request):
            for dialect in DIALECTS:
                if dialect.claims(view):
                    claimed[dialect.name] += 1
                    assert any(key in view.attributes for key in dialect.claim_keys), (dialect.name, view.name)
            first = next((dialect for dialect in DIALECTS if dialect.claims(view)), None)
            assert claiming_dialect(view) is first
    assert claimed["openinference"] and claimed["vercel"] and claimed["otel_genai"]
