"""Billing dimensions read from spans: the service tier that served a call and cache writes by lifetime."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.trace import SpanKind

from ingest.mapping import map_export
from ingest.otlp import parse_export

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "spans"


def _case_call(name: str):  # noqa: ANN202
    [call] = map_export(parse_export((CASES / name).read_bytes(), "application/json")).calls
    return call


def test_openai_flex_tier_is_read_from_the_response_tier() -> None:
    assert _case_call("openai-flex-service-tier.json").service_tier == "flex"


def test_the_response_tier_wins_over_the_requested_one(recorder) -> None:  # noqa: ANN001
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "o4-mini",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "openai.request.service_tier": "flex",
        "openai.response.service_tier": "default",
    }
    recorder.record("chat o4-mini", attrs, kind=SpanKind.CLIENT)
    assert recorder.only_call().service_tier == "standard"  # flex was asked for, default served it


def test_deprecated_tier_names_and_openinference_invocation_parameters(recorder) -> None:  # noqa: ANN001
    recorder.record(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "o3",
            "gen_ai.usage.input_tokens": 1,
            "gen_ai.openai.request.service_tier": "priority",
        },
        kind=SpanKind.CLIENT,
    )
    recorder.record(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.model_name": "o3",
            "llm.token_count.prompt": 1,
            "llm.invocation_parameters": json.dumps({"model": "o3", "service_tier": "flex"}),
        },
    )
    assert sorted(c.service_tier for c in recorder.mapped().calls) == ["flex", "priority"]


def test_a_span_without_a_tier_states_none() -> None:
    assert _case_call("fine-tuned-openai-model.json").service_tier is None


def test_anthropic_one_hour_cache_writes_are_split_from_five_minute_ones() -> None:
    call = _case_call("anthropic-1h-cache-write.json")
    assert (call.tokens.cache_write, call.tokens.cache_write_1h, call.tokens.input) == (0, 20000, 10)


def test_a_mixed_cache_write_keeps_both_lifetimes(recorder) -> None:  # noqa: ANN001
    metadata = {
        "anthropic": {
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 3000,
                "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
                "service_tier": "priority",
            }
        }
    }
    recorder.record(
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-sonnet-4-5",
            "ai.usage.inputTokens": 10,
            "ai.usage.outputTokens": 5,
            "ai.response.providerMetadata": json.dumps(metadata),
            "ai.request.headers.user-agent": "ai/5.0.60",
        },
    )
    call = recorder.only_call()
    assert (call.tokens.cache_write, call.tokens.cache_write_1h, call.service_tier) == (1000, 2000, "priority")


def test_calls_without_usage_or_text_have_unknown_usage_in_every_dialect(recorder) -> None:  # noqa: ANN001
    """Other shapes of "missing usage is not zero usage" than the handed openai-v2 stream."""
    recorder.record(
        "ChatCompletion", {"openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-mini"}
    )
    recorder.record(
        "ai.streamText.doStream",
        {"ai.operationId": "ai.streamText.doStream", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o-mini"},
    )
    recorder.record(
        "openai.chat",
        {"llm.request.type": "chat", "gen_ai.system": "OpenAI", "gen_ai.request.model": "gpt-4o-mini"},
        kind=SpanKind.CLIENT,
    )
    calls = recorder.mapped().calls
    assert sorted(c.dialect for c in calls) == ["openinference", "traceloop", "vercel"]
    assert all(c.usage_state == "unknown" for c in calls), [(c.dialect, c.usage_state) for c in calls]
