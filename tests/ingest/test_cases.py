"""The handed span cases (../shared/cases/spans) priced right through both transports, on the default
catalog: the request API, the cost API's rollups and the CSV all show the right value."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from rest_framework.test import APIClient

from costwatch.usage.rollups import recompute_dirty
from ingest.grpc_server import EXPORT_METHOD, build_server
from ingest.otlp import parse_export

pytestmark = pytest.mark.django_db(transaction=True)

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "spans"
# file -> (right request total in USD or None for unknown, what else the call must say)
RIGHT = {
    "bedrock-prompt-excludes-cache.json": (Decimal("0.0237"), {"count_basis": "from_total"}),
    "stream-without-usage.json": (None, {"usage_state": "unknown"}),
    "nested-duplicate-llm-spans.json": (Decimal("0.00225"), {}),
    "openai-flex-service-tier.json": (Decimal("0.00495"), {"service_tier": "flex", "cost_approximate": False}),
    "anthropic-1h-cache-write.json": (Decimal("0.12303"), {"cache_write_1h_tokens": 20000}),
    "fine-tuned-openai-model.json": (Decimal("0.00054"), {}),
}


def _trace_and_user(body: bytes) -> tuple[str, str]:
    span = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    users = [
        a["value"]["stringValue"]
        for s in json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"]
        for a in s["attributes"]
        if a["key"] in ("enduser.id", "user.id", "ai.telemetry.metadata.userId")
    ]
    return span["traceId"], users[0]


def _send_http(body: bytes, key: str) -> None:
    response = APIClient().post(
        "/v1/traces", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 200, response.content
    assert b"rejected" not in response.content


def _send_grpc(body: bytes, key: str) -> None:
    connection.close()  # the server threads use their own connections
    server, port = build_server("127.0.0.1:0", workers=2, max_message_bytes=4 * 1024 * 1024)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(
                EXPORT_METHOD,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            answer = export(parse_export(body, "application/json"), metadata=[("x-costwatch-key", key)], timeout=10)
        assert not answer.partial_success.rejected_spans
    finally:
        server.stop(5).wait()


@pytest.mark.parametrize("transport", ["http", "grpc"])
@pytest.mark.parametrize("case", sorted(RIGHT))
def test_each_case_gives_its_right_value_everywhere(
    case,
    transport,
    default_catalog,
    acme,
    acme_ingest_key,  # noqa: ANN001
    acme_read_key,
) -> None:
    from django.contrib.auth import get_user_model

    from costwatch.projects.services import set_member

    finance_person = get_user_model().objects.create_user(username="fin", password="x-unused-x")
    set_member(acme, finance_person, "finance")
    body = (CASES / case).read_bytes()
    (_send_http if transport == "http" else _send_grpc)(body, acme_ingest_key)
    recompute_dirty()
    right, facts = RIGHT[case]
    trace, user = _trace_and_user(body)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    request = reader.get(f"/api/v1/requests/{trace}").json()
    counted = [c for c in request["calls"] if c["counted"]]
    assert len(counted) == 1
    for name, value in facts.items():
        assert counted[0][name] == value, (name, counted[0])
    expected = None if right is None else str(right)
    assert request["summary"]["cost_usd"] == expected
    assert (Decimal(counted[0]["cost_usd"]) if counted[0]["cost_usd"] else None) == right
    period = {"start": "2026-11-01", "end": "2026-12-31"}
    [row] = reader.get("/api/v1/costs", {"group_by": "user", **period}).json()["results"]
    assert (row["key"], row["cost_usd"], row["cost_complete"]) == (user, expected, right is not None)
    finance = APIClient()
    finance.force_login(finance_person)
    exported = finance.get("/api/v1/costs", {"group_by": "user", "format": "csv", "project": "acme", **period})
    assert exported.status_code == 200, exported.content
    [line] = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert line["cost_usd"] == (expected if right is not None else "unpriced")


# --- Other shapes of the same kinds ---------------------------------------------------------------------


def _openinference_llm(trace: str, span: str, parent: str | None, model: str, **counts: int) -> dict:
    attributes = [
        {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
        {"key": "llm.system", "value": {"stringValue": "openai"}},
        {"key": "llm.model_name", "value": {"stringValue": model}},
    ]
    attributes += [
        {"key": f"llm.token_count.{name.replace('__', '.')}", "value": {"intValue": str(value)}}
        for name, value in counts.items()
    ]
    body = {
        "traceId": trace,
        "spanId": span,
        "name": "llm",
        "kind": 1,
        "startTimeUnixNano": "1795946400000000000",
        "endTimeUnixNano": "1795946401000000000",
        "attributes": attributes,
    }
    if parent:
        body["parentSpanId"] = parent
    return body


def _chain(trace: str, span: str, parent: str | None) -> dict:
    body = {
        "traceId": trace,
        "spanId": span,
        "name": "chain",
        "kind": 1,
        "startTimeUnixNano": "1795946399000000000",
        "endTimeUnixNano": "1795946402000000000",
        "attributes": [
            {"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
            {"key": "user.id", "value": {"stringValue": "shape-user"}},
        ],
    }
    if parent:
        body["parentSpanId"] = parent
    return body


def _request(key: str, spans: list[dict]) -> None:
    body = json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}]})
    _send_http(body.encode(), key)
    recompute_dirty()


def _summary(acme, trace: str) -> dict:  # noqa: ANN001
    from costwatch.usage.models import RequestRollup

    rollup = RequestRollup.objects.get(project=acme, trace_id=trace)
    return {
        "cost": rollup.known_cost,
        "calls": rollup.llm_calls,
        "duplicates": rollup.duplicate_calls,
        "unknown": rollup.unknown_usage_calls,
    }


def test_a_wrapper_without_usage_around_the_sdk_span_is_one_call(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    trace = "d1" * 16
    _request(
        acme_ingest_key,
        [
            _openinference_llm(trace, "a" * 16, None, "gpt-4o"),
            _openinference_llm(trace, "b" * 16, "a" * 16, "gpt-4o", prompt=500, completion=100),
        ],
    )
    assert _summary(acme, trace) == {"cost": Decimal("0.00225"), "calls": 1, "duplicates": 1, "unknown": 0}


def test_nested_recordings_through_an_intermediate_span_are_one_call(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    trace = "d2" * 16
    _request(
        acme_ingest_key,
        [
            _openinference_llm(trace, "a" * 16, None, "gpt-4o", prompt=500, completion=100),
            _chain(trace, "c" * 16, "a" * 16),
            _openinference_llm(trace, "b" * 16, "c" * 16, "gpt-4o-2024-08-06", prompt=500, completion=100),
        ],
    )
    assert _summary(acme, trace)["calls"] == 1


def test_sibling_calls_with_the_same_counts_are_two_calls(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    trace = "d3" * 16
    _request(
        acme_ingest_key,
        [
            _chain(trace, "c" * 16, None),
            _openinference_llm(trace, "a" * 16, "c" * 16, "gpt-4o", prompt=500, completion=100),
            _openinference_llm(trace, "b" * 16, "c" * 16, "gpt-4o", prompt=500, completion=100),
        ],
    )
    assert _summary(acme, trace) == {"cost": Decimal("0.0045"), "calls": 2, "duplicates": 0, "unknown": 0}


def test_audio_tokens_are_priced_at_the_audio_rate(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    trace = "d4" * 16
    # gpt-audio: text 2.5 in / 10 out, audio 32 in / 64 out per 1M tokens.
    _request(
        acme_ingest_key,
        [
            _openinference_llm(
                trace,
                "a" * 16,
                None,
                "gpt-audio",
                prompt=1000,
                completion=500,
                prompt_details__audio=400,
                completion_details__audio=300,
            )
        ],
    )
    from costwatch.usage.models import LlmCall

    call = LlmCall.objects.get(project=acme, trace_id=trace)
    assert call.modality_tokens == {"input_audio": 400, "output_audio": 300}
    assert (
        call.cost_total
        == (Decimal(600) * Decimal("2.5") + Decimal(400) * 32 + Decimal(200) * 10 + Decimal(300) * 64) / 10**6
    )
    assert not call.cost_approximate


def test_a_modality_without_its_own_price_is_priced_at_text_and_marked(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    trace = "d5" * 16
    _request(
        acme_ingest_key,
        [_openinference_llm(trace, "a" * 16, None, "gpt-4o", prompt=1000, completion=100, prompt_details__image=700)],
    )
    from costwatch.usage.models import LlmCall

    call = LlmCall.objects.get(project=acme, trace_id=trace)
    assert call.cost_total == (Decimal(1000) * Decimal("2.5") + Decimal(100) * 10) / 10**6
    assert call.cost_approximate and "no input image price" in call.cost_note


def test_a_tier_the_catalog_does_not_price_uses_standard_marked_approximate(
    default_catalog,
    acme,  # noqa: ANN001
    acme_ingest_key,
    acme_read_key,
) -> None:
    trace = "d6" * 16
    span = _openinference_llm(trace, "a" * 16, None, "gpt-4o", prompt=1000, completion=100)
    span["attributes"].append({"key": "openai.response.service_tier", "value": {"stringValue": "scale"}})
    _request(acme_ingest_key, [span])
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    from costwatch.usage.models import LlmCall

    call = LlmCall.objects.get(project=acme, trace_id=trace)
    assert (call.service_tier, call.cost_total, call.cost_approximate) == ("scale", Decimal("0.0035"), True)
    assert "scale" in call.cost_note
    [row] = reader.get("/api/v1/costs", {"group_by": "model", "start": "2026-11-01", "end": "2026-12-31"}).json()[
        "results"
    ]
    assert row["approximate_calls"] == 1
