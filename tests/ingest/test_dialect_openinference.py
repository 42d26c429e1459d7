from __future__ import annotations

import json
from decimal import Decimal

from costwatch.pricing.cost import TokenCounts
from tests.ingest.conftest import count_words


def test_openai_chat_completion_span(recorder) -> None:
    # openinference-instrumentation-openai: INTERNAL span, requested model only in the JSON.
    recorder.record(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.invocation_parameters": json.dumps({"model": "gpt-4o", "temperature": 0}),
            "llm.token_count.prompt": 2000,
            "llm.token_count.completion": 100,
            "llm.token_count.total": 2100,
            "llm.token_count.prompt_details.cache_read": 1500,
            "user.id": "u-1",
            "session.id": "s-1",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
        },
        scope="openinference.instrumentation.openai",
    )
    call = recorder.only_call()
    assert call.dialect == "openinference"
    assert call.provider == "openai"
    assert call.model == "gpt-4o-2024-08-06"
    assert call.request_model == "gpt-4o"
    assert call.operation == "chat"
    assert call.tokens == TokenCounts(input=500, cache_read=1500, output=100)
    assert (call.user, call.session) == ("u-1", "s-1")


def test_llm_provider_wins_over_llm_system(recorder) -> None:
    recorder.record(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "azure",
            "llm.system": "openai",
            "llm.token_count.prompt": 1,
        },
    )
    assert recorder.only_call().provider == "azure"


def test_anthropic_prompt_includes_cache_reads_and_writes(recorder) -> None:
    recorder.record(
        "Messages",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.token_count.prompt": 2255,
            "llm.token_count.completion": 5,
            "llm.token_count.prompt_details.cache_write": 1733,
            "llm.token_count.prompt_details.cache_read": 512,
        },
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=512, cache_write=1733, output=5)


def test_old_js_anthropic_prompt_without_cache_is_kept(recorder) -> None:
    recorder.record(
        "anthropic.messages.create",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 5,
            "llm.token_count.prompt_details.cache_write": 1733,
            "llm.token_count.prompt_details.cache_read": 512,
        },
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=512, cache_write=1733, output=5)


def test_embedding_span(recorder) -> None:
    recorder.record(
        "CreateEmbeddingResponse",
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "llm.token_count.prompt": 12,
            "llm.token_count.total": 12,
        },
    )
    call = recorder.only_call()
    assert call.operation == "embeddings"
    assert call.model == "text-embedding-3-small"
    assert call.tokens == TokenCounts(input=12)


def test_chain_agent_and_tool_spans_are_not_charged(recorder) -> None:
    usage = {"llm.token_count.prompt": 100, "llm.token_count.completion": 10}
    for kind in ("CHAIN", "AGENT", "TOOL", "RETRIEVER"):
        recorder.record(kind.lower(), {"openinference.span.kind": kind, **usage})
    assert recorder.mapped().calls == []


def test_a_chain_span_with_gen_ai_usage_is_decided_here_not_by_the_otel_dialect(recorder) -> None:
    recorder.record(
        "chain",
        {
            "openinference.span.kind": "CHAIN",
            "gen_ai.system": "openai",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
        },
    )
    assert recorder.mapped().calls == []


def test_reasoning_and_reported_cost(recorder) -> None:
    recorder.record(
        "Response",
        {
            "openinference.span.kind": "LLM",
            "llm.token_count.prompt": 50,
            "llm.token_count.completion": 400,
            "llm.token_count.completion_details.reasoning": 320,
            "llm.cost.total": 0.0042,
        },
    )
    call = recorder.only_call()
    assert call.tokens == TokenCounts(input=50, output=400, reasoning=320)
    assert call.reported_cost == Decimal("0.0042")


def test_stream_without_usage_is_estimated_from_message_attributes(recorder) -> None:
    recorder.record(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "answer in french",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "good morning",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "bonjour",
        },
    )
    call = recorder.only_call(estimate_tokens=count_words)
    assert call.estimated
    assert call.tokens == TokenCounts(input=(3 + 3) + (2 + 3), output=1)
