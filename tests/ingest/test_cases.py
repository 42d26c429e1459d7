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
    users = [a["value"]["stringValue"] for s in json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"]
             for a in s["attributes"] if a["key"] in ("enduser.id", "user.id", "ai.telemetry.metadata.userId")]
    return span["traceId"], users[0]


def _send_http(body: bytes, key: str) -> None:
    response = APIClient().post("/v1/traces", data=body, content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    assert b"rejected" not in response.content


def _send_grpc(body: bytes, key: str) -> None:
    connection.close()  # the server threads use their own connections
    server, port = build_server("127.0.0.1:0", workers=2, max_message_bytes=4 * 1024 * 1024)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT_METHOD, request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=ExportTraceServiceResponse.FromString)
            answer = export(parse_export(body, "application/json"), metadata=[("x-costwatch-key", key)], timeout=10)
        assert not answer.partial_success.rejected_spans
    finally:
        server.stop(5).wait()


@pytest.mark.parametrize("transport", ["http", "grpc"])
@pytest.mark.parametrize("case", sorted(RIGHT))
def test_each_case_gives_its_right_value_everywhere(case, transport, default_catalog, acme, acme_ingest_key,  # noqa: ANN001
                                                    acme_read_key) -> None:
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
