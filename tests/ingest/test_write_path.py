"""The write path (issue 14): an export of new spans is COPYed straight into the tables; one that
repeats stored spans falls back to a staging table and ``ON CONFLICT DO NOTHING``. Either way
every new span is stored once, nothing stored is changed, and the traces are marked.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rest_framework.test import APIClient

from costwatch.usage.models import DirtyTrace, LlmCall, SpanAttribution
from tests.otlp_client import post_spans


def _traces(count: int, tokens: int) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(count):
        root = tracer.start_span("POST /chat", kind=SpanKind.SERVER, attributes={"http.route": "/chat"})
        with tracer.start_as_current_span("chat", context=otel_trace.set_span_in_context(root)) as call:
            call.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": tokens,
                    "gen_ai.usage.output_tokens": 7,
                }
            )
        root.end()
    return list(exporter.get_finished_spans())


def _stored(project) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:  # noqa: ANN001
    calls = {
        (trace, span): tokens
        for trace, span, tokens in LlmCall.objects.filter(project=project).values_list(
            "trace_id", "span_id", "input_tokens"
        )
    }
    spans = set(SpanAttribution.objects.filter(project=project).values_list("trace_id", "span_id"))
    return calls, spans


def test_an_export_repeating_stored_spans_stores_only_the_new_ones(acme, acme_ingest_key, default_catalog) -> None:  # noqa: ANN001
    first = _traces(4, tokens=100)  # 8 spans: 4 calls, 4 roots
    post_spans(acme_ingest_key, first)
    calls, spans = _stored(acme)
    assert len(calls) == 4 and len(spans) == 8

    # Half of the stored spans again, with other token counts (a stored span is never changed),
    # and three new traces: the straight COPY meets the unique constraint and falls back.
    later = _traces(3, tokens=555)
    post_spans(acme_ingest_key, [*first[:4], *later])
    calls_after, spans_after = _stored(acme)
    assert len(calls_after) == 7 and len(spans_after) == 14
    assert {k: v for k, v in calls_after.items() if k in calls} == calls  # unchanged
    assert sorted(v for k, v in calls_after.items() if k not in calls) == [555, 555, 555]

    # The same export again: nothing new, the answer is still 200, and its traces are marked.
    marks = DirtyTrace.objects.filter(project=acme).count()
    post_spans(acme_ingest_key, [*first[:4], *later])
    assert _stored(acme) == (calls_after, spans_after)
    assert DirtyTrace.objects.filter(project=acme).count() > marks

    # Then an export of new spans only takes the straight path again.
    post_spans(acme_ingest_key, _traces(2, tokens=9))
    assert len(_stored(acme)[0]) == 9


def test_kept_attributes_with_copy_special_characters_are_stored_as_sent(
    acme, acme_ingest_key, default_catalog
) -> None:  # noqa: ANN001
    # Tab, newline, backslash, quotes and characters outside the BMP: COPY's text format and
    # the JSON text of the attributes must both escape them.
    value = "a\tb\nc\\d\"e'f\u00e9\U0001f600\\N"
    spans = _traces(1, tokens=5)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "app.region": value}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("POST /x", kind=SpanKind.SERVER) as root:
        root.set_attributes({"http.route": "/x", "app.note": value, "enduser.id": value})
    post_spans(acme_ingest_key, [*spans, *exporter.get_finished_spans()])
    stored = SpanAttribution.objects.get(project=acme, route="/x")
    assert stored.user == value
    assert stored.attributes["span"]["app.note"] == value
    assert stored.attributes["resource"]["app.region"] == value


@pytest.mark.django_db(transaction=True)
def test_the_same_spans_sent_at_once_by_several_exporters_are_stored_once(
    acme, acme_ingest_key, default_catalog
) -> None:  # noqa: ANN001
    # Each straight COPY waits on the unique index for the others' transactions; all but the first
    # meet the stored spans and fall back. Every answer is 200 and each span is stored once.
    shared = _traces(20, tokens=100)
    exports = [[*shared, *_traces(2, tokens=1 + n)] for n in range(4)]  # the same 40 spans, and 4 new each
    barrier = threading.Barrier(len(exports))
    errors: list[BaseException] = []

    def send(spans: list[ReadableSpan]) -> None:
        try:
            barrier.wait(timeout=10)
            post_spans(acme_ingest_key, spans)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(spans,)) for spans in exports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    calls, spans = _stored(acme)
    assert len(calls) == 20 + 4 * 2 and len(spans) == 40 + 4 * 4


def test_nul_in_an_attribute_loses_only_what_cannot_be_stored(acme, acme_ingest_key, default_catalog) -> None:  # noqa: ANN001
    # PostgreSQL stores no U+0000 in text or jsonb. A kept attribute (value or key) holding one is
    # left out and its span stored; a custom dimension's value holding one rejects that span
    # through partial_success; the rest of the export is stored either way.
    import json
    import time

    from costwatch.usage.dimensions import save_dimension

    save_dimension(acme, name="tenant", attribute_keys=["app.tenant"], max_values_per_day=10)
    start = str(int((time.time() - 60) * 1e9))

    def span(trace: str, span_id: str, parent: str, attributes: dict[str, object]) -> dict:
        values = [
            {"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
            for k, v in attributes.items()
        ]
        return {
            "traceId": trace,
            "spanId": span_id,
            "parentSpanId": parent,
            "name": "POST /x",
            "kind": 2,
            "startTimeUnixNano": start,
            "endTimeUnixNano": start,
            "attributes": values,
        }

    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10}
    spans = [
        span(
            "a1" * 16, "01" * 8, "", {"http.route": "/a", "app.note": "nul\x00here", "bad\x00key": "x", "app.ok": "y"}
        ),
        span("a1" * 16, "02" * 8, "01" * 8, chat),
        span("a2" * 16, "03" * 8, "", {"http.route": "/b", "app.tenant": "ac\x00me"}),
        span("a2" * 16, "04" * 8, "03" * 8, chat),
        span("a3" * 16, "05" * 8, "", {"http.route": "/c", "app.tenant": "globex"}),
        span("a3" * 16, "06" * 8, "05" * 8, chat),
    ]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    response = APIClient().post(
        "/v1/traces", data=body, content_type="application/json", HTTP_X_COSTWATCH_KEY=acme_ingest_key
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "custom dimension" in answer["partialSuccess"]["errorMessage"]
    assert LlmCall.objects.filter(project=acme).count() == 3
    stored = {row.route: row for row in SpanAttribution.objects.filter(project=acme, is_root=True)}
    assert set(stored) == {"/a", "/c"}
    assert stored["/a"].attributes["span"] == {"http.route": "/a", "app.ok": "y"}
    assert stored["/c"].attributes["span"]["app.tenant"] == "globex"
