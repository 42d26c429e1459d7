from __future__ import annotations

from opentelemetry.trace import SpanKind

from costwatch.pricing.cost import TokenCounts
from tests.ingest.conftest import count_words


def test_openai_instrumentation_0_62_chat_span(recorder) -> None:
    recorder.record(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "chatcmpl-9x",
            "gen_ai.usage.input_tokens": 2048,
            "gen_ai.usage.output_tokens": 64,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.total_tokens": 2112,
            "gen_ai.user": "customer-17",
            "llm.is_streaming": False,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
        },
        kind=SpanKind.CLIENT,
        scope="opentelemetry.instrumentation.openai.v1",
    )
    call = recorder.only_call()
    assert call.dialect == "traceloop"
    assert call.provider == "openai"
    assert call.model == "gpt-4o-mini-2024-07-18"
    assert call.request_model == "gpt-4o-mini"
    assert call.operation == "chat"
    assert call.response_id == "chatcmpl-9x"
    assert call.tokens == TokenCounts(input=1024, cache_read=1024, output=64)
    assert call.user == "customer-17"
    assert not call.estimated


def test_anthropic_instrumentation_already_adds_cache_back_into_input(recorder) -> None:
    # input_tokens = Anthropic's input (10) + cache_read (3000) + cache_creation (500).
    recorder.record(
        "anthropic.chat",
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.response.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.input_tokens": 3510,
            "gen_ai.usage.output_tokens": 200,
            "llm.usage.total_tokens": 3710,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
        },
        kind=SpanKind.CLIENT,
    )
    call = recorder.only_call()
    assert call.provider == "anthropic"
    assert call.operation == "chat"
    assert call.tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_older_releases_with_deprecated_usage_names(recorder) -> None:
    recorder.record(
        "anthropic.chat",
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.request.model": "claude-3-haiku-20240307",
            "gen_ai.usage.prompt_tokens": 1205,
            "gen_ai.usage.completion_tokens": 30,
            "gen_ai.usage.cache_read_input_tokens": 1200,
            "gen_ai.usage.cache_creation_input_tokens": 0,
            "llm.usage.total_tokens": 1235,
        },
    )
    assert recorder.only_call().tokens == TokenCounts(input=5, cache_read=1200, output=30)


def test_completion_and_embedding_request_types(recorder) -> None:
    recorder.record(
        "openai.completion",
        {"llm.request.type": "completion", "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 5},
    )
    recorder.record(
        "openai.embeddings",
        {"llm.request.type": "embedding", "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 8},
    )
    recorder.record("cohere.rerank", {"llm.request.type": "rerank", "gen_ai.system": "cohere"})
    assert sorted(c.operation for c in recorder.mapped().calls) == ["embeddings", "text_completion"]


def test_workflow_spans_attribute_through_association_properties(recorder, acme) -> None:
    association = {
        "traceloop.span.kind": "workflow",
        "traceloop.workflow.name": "answer_question",
        "traceloop.association.properties.user_id": "user-5",
        "traceloop.association.properties.session_id": "chat-77",
        "traceloop.association.properties.feature": "qa",
    }
    with recorder.span("answer_question.workflow", association):
        recorder.record(
            "openai.chat",
            {"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 10},
            kind=SpanKind.CLIENT,
        )
    call = recorder.only_resolved(acme)
    assert (call.user, call.session, call.feature) == ("user-5", "chat-77", "qa")
    assert call.endpoint == "answer_question.workflow"


def test_stream_without_usage_is_estimated_from_prompt_attributes(recorder) -> None:
    recorder.record(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "llm.is_streaming": True,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "you are terse",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "what is two plus two",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "four",
        },
    )
    call = recorder.only_call(estimate_tokens=count_words)
    assert call.estimated
    assert call.tokens == TokenCounts(input=(3 + 3) + (5 + 3), output=1)
