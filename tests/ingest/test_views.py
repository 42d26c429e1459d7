"""/v1/traces over real HTTP, fed by the real OpenTelemetry OTLP/HTTP exporter."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

from costwatch.pricing.models import ModelPrice
from costwatch.usage.models import CustomDimension, DirtyTrace, LlmCall, SpanAttribution
from ingest import mapping

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 200,
}


@pytest.fixture
def gpt4o_price(db) -> ModelPrice:  # noqa: ANN001
    return ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o",
        input=Decimal("2.5"),
        output=Decimal("10"),
        cache_read=Decimal("1.25"),
        effective_from=date(2024, 10, 1),
        origin="manual",
    )


def _exporter(url: str, key: str, **kwargs) -> OTLPSpanExporter:  # noqa: ANN003
    return OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"x-costwatch-key": key}, timeout=10, **kwargs)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"{url}/v1/traces", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_real_exporter_spans_are_stored_priced_and_attributed(
    live_server, recorder, acme, acme_ingest_key, gpt4o_price
) -> None:
    with recorder.span("POST /checkout", {"http.route": "/checkout", "enduser.id": "u-42"}, kind=SpanKind.SERVER):
        recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()

    assert _exporter(live_server.url, acme_ingest_key).export(spans) == SpanExportResult.SUCCESS

    call = LlmCall.objects.get(project=acme)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (1000, 200, 300)
    assert call.price == gpt4o_price and call.price_key == "gpt-4o"
    # 1000 × 2.5 + 200 × 1.25 + 300 × 10, per million
    assert call.cost_total == Decimal("0.00575")
    assert list(DirtyTrace.objects.filter(project=acme).values_list("trace_id", flat=True)) == [call.trace_id]
    assert (call.user, call.endpoint) == ("", "")  # stored as the span says; the rollup resolves
    from costwatch.usage.queries import request_calls
    from costwatch.usage.rollups import recompute_dirty

    recompute_dirty()
    [resolved] = request_calls(acme, call.trace_id)
    assert (resolved.user, resolved.endpoint) == ("u-42", "/checkout")


def test_sending_the_same_export_again_changes_nothing(
    live_server, recorder, acme, acme_ingest_key, gpt4o_price
) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()
    exporter = _exporter(live_server.url, acme_ingest_key)
    for _ in range(3):
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert LlmCall.objects.filter(project=acme).count() == 1


def test_gzip_exporter_and_json_body_are_accepted(live_server, recorder, acme, acme_ingest_key) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    exporter = _exporter(live_server.url, acme_ingest_key, compression=Compression.Gzip)
    assert exporter.export(recorder.exporter.get_finished_spans()) == SpanExportResult.SUCCESS

    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": "1764115200000000000",
                                "endTimeUnixNano": "1764115201000000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 5}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    status, headers, raw = _post(
        live_server.url,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {acme_ingest_key}"},
    )
    assert status == 200, raw
    assert headers["Content-Type"].startswith("application/json")
    assert LlmCall.objects.filter(project=acme, trace_id="5b8efff798038103d269b633813fc60c").exists()
    assert LlmCall.objects.filter(project=acme).count() == 2


def test_invalid_spans_are_rejected_one_by_one_and_the_rest_kept(live_server, recorder, acme, acme_ingest_key) -> None:
    recorder.record("chat ok", CHAT, kind=SpanKind.CLIENT)
    recorder.record("chat bad", {**CHAT, "gen_ai.usage.input_tokens": -5}, kind=SpanKind.CLIENT)
    status, _, raw = _post(
        live_server.url,
        recorder.payload(),
        {"Content-Type": "application/x-protobuf", "x-costwatch-key": acme_ingest_key},
    )
    assert status == 200
    response = ExportTraceServiceResponse.FromString(raw)
    assert response.partial_success.rejected_spans == 1
    assert "negative" in response.partial_success.error_message
    assert LlmCall.objects.filter(project=acme).count() == 1


def test_keys_never_cross_projects(live_server, recorder, acme, globex, globex_ingest_key, acme_read_key) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()
    assert _exporter(live_server.url, acme_read_key).export(spans) == SpanExportResult.FAILURE
    assert _exporter(live_server.url, globex_ingest_key).export(spans) == SpanExportResult.SUCCESS
    assert LlmCall.objects.filter(project=acme).count() == 0
    assert LlmCall.objects.filter(project=globex).count() == 1


def test_a_late_root_span_redirties_the_calls_of_its_trace(live_server, recorder, acme, acme_ingest_key) -> None:
    with recorder.span("POST /support", {"http.route": "/support", "enduser.id": "u-7"}, kind=SpanKind.SERVER):
        recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    child, root = recorder.exporter.get_finished_spans()
    exporter = _exporter(live_server.url, acme_ingest_key)
    assert exporter.export([child]) == SpanExportResult.SUCCESS
    DirtyTrace.objects.all().delete()
    assert exporter.export([root]) == SpanExportResult.SUCCESS
    assert SpanAttribution.objects.get(project=acme, is_root=True).route == "/support"
    trace = LlmCall.objects.get(project=acme).trace_id
    assert list(DirtyTrace.objects.filter(project=acme).values_list("trace_id", flat=True)) == [trace]


@pytest.mark.parametrize(
    ("headers", "body", "status", "needle"),
    [
        ({"Content-Type": "application/x-protobuf"}, b"", 401, "missing ingest key"),
        ({"Content-Type": "application/x-protobuf", "x-costwatch-key": "cw_ingest_nope"}, b"", 401, "invalid"),
        ({"Content-Type": "text/plain", "x-costwatch-key": "{key}"}, b"hi", 415, "unsupported content type"),
        ({"Content-Type": "application/x-protobuf", "x-costwatch-key": "{key}"}, b"\xff\xff\xff\x0f", 400, "protobuf"),
        ({"Content-Type": "application/json", "x-costwatch-key": "{key}"}, b"{not json", 400, "JSON"),
        (
            {"Content-Type": "application/x-protobuf", "x-costwatch-key": "{key}", "Content-Encoding": "gzip"},
            b"not gzip",
            400,
            "gzip",
        ),
    ],
)
def test_bad_requests_get_clear_errors(live_server, acme, acme_ingest_key, headers, body, status, needle) -> None:
    headers = {k: v.format(key=acme_ingest_key) for k, v in headers.items()}
    got, response_headers, raw = _post(live_server.url, body, headers)
    assert got == status
    text = raw.decode("utf-8", "replace")
    assert needle.lower() in text.lower(), text
    if status == 401:
        assert "WWW-Authenticate" in response_headers


def test_oversized_and_gzip_bomb_bodies_get_413(live_server, acme, acme_ingest_key, settings) -> None:
    settings.COSTWATCH_INGEST_MAX_BYTES = 64 * 1024
    headers = {"Content-Type": "application/x-protobuf", "x-costwatch-key": acme_ingest_key}
    status, _, _ = _post(live_server.url, b"\x00" * (65 * 1024), headers)
    assert status == 413
    bomb = gzip.compress(b"\x00" * (20 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    status, _, raw = _post(live_server.url, bomb, {**headers, "Content-Encoding": "gzip"})
    assert status == 413
    assert LlmCall.objects.count() == 0


@pytest.mark.parametrize("store", ["this process", "redis"])
def test_the_export_past_the_keys_rate_gets_429_with_retry_after(
    store, live_server, recorder, acme, acme_ingest_key, settings, redis_url
) -> None:
    settings.COSTWATCH_INGEST_RATE_PER_MINUTE = 3
    settings.COSTWATCH_RATE_LIMIT_REDIS_URL = redis_url if store == "redis" else ""
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    headers = {"Content-Type": "application/x-protobuf", "x-costwatch-key": acme_ingest_key}
    answers = [_post(live_server.url, recorder.payload(), headers) for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    _, headers_429, body = answers[-1]
    # In this process the next token is 20 s away (3 a minute); in Redis the window closes within 60 s.
    low, high = (19, 20) if store == "this process" else (59, 60)
    assert low <= int(headers_429["Retry-After"]) <= high
    assert b"rate limit of 3 exports per minute exceeded" in body
    assert LlmCall.objects.filter(project=acme).count() == 1  # the same span three times: stored once


def test_database_outage_answers_503_and_the_retry_is_stored_once(client, recorder, acme, acme_ingest_key) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    payload = recorder.payload()
    headers = {"HTTP_X_COSTWATCH_KEY": acme_ingest_key}
    real_port = connection.settings_dict["PORT"]
    real_host = connection.settings_dict["HOST"]
    connection.close()
    # A real connection attempt to a port where no database listens.
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    try:
        response = client.post("/v1/traces", payload, content_type="application/x-protobuf", **headers)
    finally:
        connection.close()
        connection.settings_dict.update(HOST=real_host, PORT=real_port)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"nothing was stored" in response.content
    for _ in range(2):
        response = client.post("/v1/traces", payload, content_type="application/x-protobuf", **headers)
        assert response.status_code == 200
    assert LlmCall.objects.filter(project=acme).count() == 1


# Per call kind: the dialect's attributes. Every one is priced by the gpt-4o price.
LLM_CALLS = {
    "chat gpt-4o": CHAT,
    "openai.chat": {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 900,
        "gen_ai.usage.completion_tokens": 90,
        "traceloop.association.properties.user_id": "tl-user",
    },
    "ChatOpenAI": {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 800,
        "llm.token_count.completion": 80,
    },
    "ai.generateText.doGenerate": {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.provider": "openai.chat",
        "ai.model.id": "gpt-4o",
        "ai.usage.promptTokens": 700,
        "ai.usage.completionTokens": 70,
    },
}
# HTTP client, database, queue and cache spans, as their instrumentations record them.
PLAIN_SPANS = [
    ("GET", SpanKind.CLIENT, {"http.request.method": "GET", "url.full": "https://inventory.internal/items/42"}),
    ("SELECT shop.orders", SpanKind.CLIENT, {"db.system": "postgresql", "db.query.text": "SELECT * FROM orders"}),
    ("orders publish", SpanKind.PRODUCER, {"messaging.system": "rabbitmq", "messaging.destination.name": "orders"}),
    ("GET session", SpanKind.CLIENT, {"db.system": "redis", "db.operation.name": "GET"}),
    ("render template", SpanKind.INTERNAL, {}),
]


def _stored(project) -> tuple[list[dict], list[dict]]:  # noqa: ANN001
    """The project's stored calls and attribution rows as plain values, without row ids and times of
    storage, custom dimensions named instead of numbered."""
    dimension_names = {str(pk): name for pk, name in CustomDimension.objects.values_list("pk", "name")}
    calls = [
        {k: v for k, v in row.items() if k not in ("id", "project_id", "received_at")}
        for row in LlmCall.objects.filter(project=project).order_by("span_id").values()
    ]
    attributions = []
    for row in SpanAttribution.objects.filter(project=project).order_by("span_id").values():
        row = {k: v for k, v in row.items() if k not in ("id", "project_id", "created_at", "updated_at")}
        row["dimensions"] = {dimension_names[k]: v for k, v in (row["dimensions"] or {}).items()}
        attributions.append(row)
    return calls, attributions


def test_plain_spans_are_dropped_and_what_is_stored_stays_the_same(
    live_server, recorder, acme, globex, acme_ingest_key, globex_ingest_key, gpt4o_price, settings, monkeypatch
) -> None:
    """500 plain spans and a few LLM calls of every dialect, sent by the real exporter: acme (the
    filter) stores exactly what globex (no filter) stores, and only the plain spans went unconverted."""
    settings.COSTWATCH_USER_ATTRIBUTES = ["tenant.user"]
    for project in (acme, globex):
        CustomDimension.objects.create(
            project=project, name="tenant", attribute_keys=["app.tenant"], max_values_per_day=100
        )
    kept = set()
    for request, (call_name, call_attributes) in enumerate(LLM_CALLS.items()):
        root = f"POST /api/{request}"
        with recorder.span(root, {"http.route": f"/api/{request}", "enduser.id": f"u-{request}"}, kind=SpanKind.SERVER):
            for n in range(125):
                name, kind, attributes = PLAIN_SPANS[n % len(PLAIN_SPANS)]
                recorder.record(name, attributes, kind=kind)
            with recorder.span(f"workflow {request}", {"traceloop.span.kind": "workflow"}):
                recorder.record(call_name, call_attributes, kind=SpanKind.CLIENT)
            recorder.record(f"tenant {request}", {"tenant.user": f"t-{request}", "app.tenant": f"tenant-{request}"})
        kept |= {root, f"workflow {request}", call_name, f"tenant {request}"}
    spans = recorder.exporter.get_finished_spans()
    assert len(spans) == 500 + 4 * len(LLM_CALLS)
    converted: list[str] = []
    real_view = mapping._view

    def counting_view(span, resource, scope_name):  # noqa: ANN001, ANN202
        converted.append(span.name)
        return real_view(span, resource, scope_name)

    monkeypatch.setattr(mapping, "_view", counting_view)
    assert _exporter(live_server.url, acme_ingest_key).export(spans) == SpanExportResult.SUCCESS
    assert sorted(converted) == sorted(kept)
    monkeypatch.setattr(mapping, "_plain", lambda span, matters: False)
    assert _exporter(live_server.url, globex_ingest_key).export(spans) == SpanExportResult.SUCCESS
    assert len(converted) == len(kept) + len(spans)

    calls, attributions = _stored(acme)
    assert (calls, attributions) == _stored(globex)
    assert [call["cost_total"] is not None for call in calls] == [True] * len(LLM_CALLS)
    assert len(attributions) == len(kept)
    assert {row["dimensions"].get("tenant") for row in attributions} == {None, *(f"tenant-{n}" for n in range(4))}
    assert {row["user"] for row in attributions} >= {"t-0", "tl-user", "u-3"}
