"""Synthetic traffic of known shape, as OTLP JSON exports for POST /v1/traces."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

from rest_framework.test import APIClient

from costwatch.pricing.models import ModelPrice

D = Decimal
_ids = itertools.count(1)
M = D(1_000_000)

# USD per million tokens, as the fixture stores them.
GPT4O = {"input": D("2.5"), "output": D("10"), "cache_read": D("1.25")}
MINI = {"input": D("0.15"), "output": D("0.6"), "cache_read": D("0.075")}


def store_prices() -> None:
    common = {"effective_from": date(2024, 1, 1), "origin": "manual", "batch_discount": D("0.5")}
    ModelPrice.objects.create(provider="openai", model="gpt-4o", context_window=128_000, **GPT4O, **common)
    ModelPrice.objects.create(provider="openai", model="gpt-4o-mini", context_window=128_000, **MINI, **common)
    # Cheaper still, but its window is too small for any feature below with prompts over 1,000 tokens.
    ModelPrice.objects.create(
        provider="openai",
        model="tiny-1k",
        input=D("0.01"),
        output=D("0.01"),
        context_window=1000,
        effective_from=date(2024, 1, 1),
        origin="manual",
    )
    # The catalog does not state this one's context window: never counted as fitting.
    ModelPrice.objects.create(
        provider="acme-ai",
        model="no-window",
        input=D("0.02"),
        output=D("0.02"),
        effective_from=date(2024, 1, 1),
        origin="manual",
    )


def _nanos(moment: datetime) -> str:
    return str(int(moment.timestamp()) * 10**9 + moment.microsecond * 1000)


def _attrs(values: dict[str, object]) -> list[dict]:
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            out.append({"key": key, "value": {"boolValue": value}})
        elif isinstance(value, int):
            out.append({"key": key, "value": {"intValue": str(value)}})
        else:
            out.append({"key": key, "value": {"stringValue": str(value)}})
    return out


def request_spans(
    at: datetime,
    *,
    feature: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    server: bool = True,
    route: str | None = None,
    conversation: str | None = None,
    cache_hit: bool = False,
) -> list[dict]:
    """One request: a root span (SERVER with http.route, or an INTERNAL background job) and its LLM call."""
    n = next(_ids)
    trace, root, child = f"{n:032x}", f"{n:08x}0000000a", f"{n:08x}0000000b"
    root_attrs: dict[str, object] = {"costwatch.feature": feature}
    if server:
        root_attrs["http.route"] = route or f"/{feature}"
    if conversation:
        root_attrs["gen_ai.conversation.id"] = conversation
    call_attrs: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    if cache_hit:
        call_attrs["costwatch.cache.hit"] = True
    end = at + timedelta(seconds=2)
    return [
        {
            "traceId": trace,
            "spanId": root,
            "name": f"{'POST' if server else 'job'} {feature}",
            "kind": 2 if server else 1,
            "startTimeUnixNano": _nanos(at),
            "endTimeUnixNano": _nanos(end),
            "attributes": _attrs(root_attrs),
        },
        {
            "traceId": trace,
            "spanId": child,
            "parentSpanId": root,
            "name": f"chat {model}",
            "kind": 3,
            "startTimeUnixNano": _nanos(at + timedelta(milliseconds=100)),
            "endTimeUnixNano": _nanos(at + timedelta(seconds=1)),
            "attributes": _attrs(call_attrs),
        },
    ]


def send(key: str, spans: list[dict]) -> None:
    """POST the spans to the real ingest, 500 spans per export."""
    for start in range(0, len(spans), 500):
        body = json.dumps(
            {
                "resourceSpans": [
                    {
                        "resource": {"attributes": []},
                        "scopeSpans": [{"scope": {"name": "savings-tests"}, "spans": spans[start : start + 500]}],
                    }
                ]
            }
        ).encode()
        response = APIClient().post(
            "/v1/traces", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert response.status_code == 200, response.content
        assert "rejectedSpans" not in json.loads(response.content).get("partialSuccess", {}), response.content


def cost(prices: dict[str, Decimal], input_tokens: int, output_tokens: int) -> Decimal:
    return (input_tokens * prices["input"] + output_tokens * prices["output"]) / M
