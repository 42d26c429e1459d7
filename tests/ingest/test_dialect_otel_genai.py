from __future__ import annotations

import json
from decimal import Decimal

from opentelemetry.trace import SpanKind

from costwatch.pricing.cost import TokenCounts
from tests.ingest.conftest import count_words


def test_openai_v2_chat_span_maps_to_a_call(recorder) -> None:
    # opentelemetry-instrumentation-openai-v2 2.4b0: no cached count, no user.
    recorder.record(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": "chatcmpl-AbC",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 80,
            "server.address": "api.openai.com",
        },
        kind=SpanKind.CLIENT,
        scope="opentelemetry.instrumentation.openai_v2",
    )
    call = recorder.only_call()
    assert call.dialect == "otel_genai"
    assert call.provider == "openai"
    assert call.model == "gpt-4o-2024-08-06"
    assert call.request_model == "gpt-4o"
    assert call.operation == "chat"
    assert call.response_id == "chatcmpl-AbC"
    assert call.tokens == TokenCounts(input=1200, output=80)
    assert not call.estimated and not call.is_error and not call.response_cache_hit
    assert call.reported_cost is None
    assert call.user is None


def test_openai_cached_tokens_are_taken_out_of_input(recorder) -> None:
    recorder.record(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "azure.ai.openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.cache_read.input_tokens": 1536,
            "gen_ai.usage.output_tokens": 10,
        },
    )
    assert recorder.only_call().tokens == TokenCounts(input=464, cache_read=1536, output=10)


def test_anthropic_sdk_tracing_cache_write_name_and_inclusive_input(recorder) -> None:
    recorder.record(
        "anthropic.messages.create",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 3510,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_write.input_tokens": 500,
            "gen_ai.usage.output_tokens": 200,
            "http.route": "/v1/messages",
        },
        kind=SpanKind.CLIENT,
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_input_smaller_than_cache_is_anthropic_style_and_kept(recorder) -> None:
    recorder.record(
        "chat claude",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
            "gen_ai.usage.output_tokens": 200,
        },
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_deprecated_names_without_operation_are_a_chat(recorder) -> None:
    recorder.record(
        "openai.chat.completions",
        {
            "gen_ai.system": "az.ai.openai",
            "gen_ai.request.model": "gpt-35-turbo",
            "gen_ai.usage.prompt_tokens": 900,
            "gen_ai.usage.completion_tokens": 40,
            "gen_ai.usage.cache_read_input_tokens": 100,
            "gen_ai.usage.cache_creation_input_tokens": 0,
        },
    )
    call = recorder.only_call()
    assert call.operation == "chat"
    assert call.provider == "az.ai.openai"
    assert call.model == "gpt-35-turbo"
    assert call.tokens == TokenCounts(input=800, cache_read=100, output=40)


def test_span_with_a_provider_but_no_usage_nor_operation_is_not_a_call(recorder) -> None:
    recorder.record("setup", {"gen_ai.system": "openai"})
    assert recorder.mapped().calls == []


def test_reasoning_is_already_inside_output(recorder) -> None:
    recorder.record(
        "chat o3",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.reasoning.output_tokens": 300,
        },
    )
    assert recorder.only_call().tokens == TokenCounts(input=100, output=500, reasoning=300)


def test_gemini_thoughts_reported_beside_candidates_are_added_to_output(recorder) -> None:
    # Gemini counts thoughts apart from candidates; older instrumentations copied both through.
    recorder.record(
        "generate_content gemini-2.5-flash",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "gemini",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.reasoning.output_tokens": 200,
            "gen_ai.usage.total_tokens": 600,
        },
    )
    recorder.record(
        "generate_content gemini-2.5-pro",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": "gcp.gemini",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.usage.reasoning.output_tokens": 200,
        },
    )
    outputs = sorted(c.tokens.output for c in recorder.mapped().calls)
    assert outputs == [250, 500]


def test_google_genai_instrumentation_output_already_includes_thoughts(recorder) -> None:
    recorder.record(
        "generate_content gemini-2.5-flash",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.reasoning.output_tokens": 200,
            "gen_ai.usage.cache_read.input_tokens": 0,
        },
        scope="opentelemetry.instrumentation.google_genai",
    )
    call = recorder.only_call()
    assert call.operation == "generate_content"
    assert call.tokens == TokenCounts(input=100, output=500, reasoning=200)


def test_embeddings_and_text_completion_are_charged(recorder) -> None:
    recorder.record(
        "embeddings text-embedding-3-small",
        {"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 42},
    )
    recorder.record(
        "text_completion gpt-3.5-turbo-instruct",
        {"gen_ai.operation.name": "text_completion", "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 7},
    )
    assert sorted(c.operation for c in recorder.mapped().calls) == ["embeddings", "text_completion"]


def test_agent_and_tool_spans_are_not_charged(recorder) -> None:
    usage = {"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 9}
    recorder.record("invoke_agent triage", {"gen_ai.operation.name": "invoke_agent", **usage})
    recorder.record("create_agent triage", {"gen_ai.operation.name": "create_agent", **usage})
    recorder.record("execute_tool search", {"gen_ai.operation.name": "execute_tool", **usage})
    assert recorder.mapped().calls == []


def test_failed_call_is_marked_as_error(recorder) -> None:
    recorder.record("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3}, error=True)
    recorder.record(
        "chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3, "error.type": "timeout"}
    )
    assert [c.is_error for c in recorder.mapped().calls] == [True, True]


def test_reported_cost_is_an_exact_decimal(recorder) -> None:
    recorder.record("chat a", {"gen_ai.operation.name": "chat", "gen_ai.usage.cost": 0.1})
    recorder.record("chat b", {"gen_ai.operation.name": "chat", "llm.usage.total_cost": "0.000123"})
    costs = sorted(c.reported_cost for c in recorder.mapped().calls)
    assert costs == [Decimal("0.000123"), Decimal("0.1")]


def test_negative_or_nan_cost_rejects_the_span(recorder) -> None:
    recorder.record("chat a", {"gen_ai.operation.name": "chat", "gen_ai.usage.cost": -1.5})
    recorder.record("chat b", {"gen_ai.operation.name": "chat", "gen_ai.usage.cost": "NaN"})
    result = recorder.mapped()
    assert result.calls == []
    assert sorted(r.reason.split(": ", 1)[1] for r in result.rejected) == [
        "gen_ai.usage.cost is negative (-1.5)",
        "gen_ai.usage.cost is not a finite number ('NaN')",
    ]


def test_stream_without_usage_is_estimated_from_message_attributes(recorder) -> None:
    recorder.record(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "tell me a joke"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "why did the chicken"}]}]
            ),
        },
    )
    call = recorder.only_call(estimate_tokens=count_words)
    assert call.estimated
    assert call.tokens == TokenCounts(input=4 + 3, output=4)


def test_stream_without_usage_is_estimated_from_events(recorder) -> None:
    recorder.record(
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        events=[
            ("gen_ai.system.message", {"gen_ai.system": "openai", "content": "be brief"}),
            ("gen_ai.user.message", {"gen_ai.system": "openai", "content": "hello there"}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": '{"content": "hi you"}'}),
        ],
    )
    call = recorder.only_call(estimate_tokens=count_words)
    assert call.estimated
    assert call.tokens == TokenCounts(input=(2 + 3) + (2 + 3), output=2)


def test_span_without_usage_or_text_keeps_zero_reported_tokens(recorder) -> None:
    recorder.record("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"})
    call = recorder.only_call()
    assert call.tokens == TokenCounts()
    assert not call.estimated


def test_estimation_uses_the_real_tokenizer(recorder) -> None:
    import pytest

    pytest.importorskip("costwatch.pricing.tokenizer")
    recorder.record(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": "Hello, world!"}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "Hi! How can I help?"}]),
        },
    )
    call = recorder.only_call()
    assert call.estimated
    assert call.tokens.input > 4 and call.tokens.output > 3
