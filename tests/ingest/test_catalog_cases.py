"""Spans of current models priced from the default catalog (genai-prices), through POST /v1/traces."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from costwatch.usage.models import LlmCall

pytestmark = pytest.mark.django_db(transaction=True)

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "spans"


def _post_json(url: str, body: bytes, key: str) -> int:
    request = urllib.request.Request(
        f"{url}/v1/traces",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "x-costwatch-key": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def _request_total(client, trace_id: str, key: str) -> dict:  # noqa: ANN001
    response = client.get(f"/api/v1/requests/{trace_id}", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    return response.json()


def test_fine_tuned_openai_model_costs_its_fine_tune_price(
    live_server,
    client,
    default_catalog,
    acme,
    acme_ingest_key,
    acme_read_key,  # noqa: ANN001
) -> None:
    body = (CASES / "fine-tuned-openai-model.json").read_bytes()
    assert _post_json(live_server.url, body, acme_ingest_key) == 200
    call = LlmCall.objects.get(project=acme)
    assert (call.price.provider, call.price.model, call.price_key) == ("openai", "ft:gpt-4o-mini", "ft:gpt-4o-mini")
    # 1,000 × 0.30 + 200 × 1.20 per 1M tokens
    assert call.cost_total == Decimal("0.00054") and call.cost_source == "computed"
    trace_id = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    request = _request_total(client, trace_id, acme_read_key)
    assert [(c["price_key"], c["cost_usd"], c["cost_source"]) for c in request["calls"]] == [
        ("ft:gpt-4o-mini", "0.00054", "computed")
    ]


def test_bedrock_global_profile_and_vertex_claude_are_priced_from_their_own_rows(
    live_server,
    default_catalog,
    acme,
    acme_ingest_key,  # noqa: ANN001
) -> None:
    spans = []
    for index, (system, model) in enumerate(
        [
            ("aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ("aws.bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            ("gcp.vertex_ai", "claude-sonnet-4-5@20250929"),
            ("az.ai.openai", "gpt-4o-2024-11-20"),
            ("openai", "openai/gpt-4o-mini"),
        ]
    ):
        spans.append(
            {
                "traceId": f"{index + 1:032x}",
                "spanId": f"{index + 1:016x}",
                "name": f"chat {model}",
                "kind": 3,
                "startTimeUnixNano": "1795946400000000000",
                "endTimeUnixNano": "1795946401000000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.system", "value": {"stringValue": system}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": model}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}},
                ],
            }
        )
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    assert _post_json(live_server.url, body, acme_ingest_key) == 200
    calls = {c.model: c for c in LlmCall.objects.filter(project=acme)}
    expected = {
        # model: (catalog provider, catalog model, 1,000 in + 100 out at its source prices)
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0": (
            "aws",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "0.0045",
        ),
        "us.anthropic.claude-haiku-4-5-20251001-v1:0": (
            "aws",
            "regional.anthropic.claude-haiku-4-5-20251001-v1:0",
            "0.00165",
        ),
        "claude-sonnet-4-5@20250929": ("google", "claude-sonnet-4-5", "0.0045"),
        "gpt-4o-2024-11-20": ("openai", "gpt-4o", "0.0035"),
        "openai/gpt-4o-mini": ("openai", "gpt-4o-mini", "0.00021"),
    }
    for model, (provider, key, total) in expected.items():
        call = calls[model]
        assert (call.price.provider, call.price.model, call.cost_total) == (provider, key, Decimal(total)), model
