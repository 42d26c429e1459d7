"""Vercel AI SDK spans, with the attributes each SDK version writes (see packages/ai telemetry)."""

from __future__ import annotations

import json
from decimal import Decimal

from costwatch.pricing.cost import TokenCounts
from tests.ingest.conftest import count_words

ANTHROPIC_RAW_USAGE = {"input_tokens": 10, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 500}


def do_generate(provider: str = "anthropic.messages", model: str = "claude-sonnet-4-5", **usage: object) -> dict:
    """A doGenerate span's common attributes; the usage names vary by version."""
    return {
        "ai.operationId": "ai.generateText.doGenerate",
        "operation.name": "ai.generateText.doGenerate",
        "ai.model.provider": provider,
        "ai.model.id": model,
        "ai.response.model": model + "-20250929",
        "ai.response.id": "msg_01XyZ",
        "ai.response.finishReason": "stop",
        "ai.settings.maxRetries": 2,
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.id": "msg_01XyZ",
        **usage,
    }


def test_v6_usage_details_give_the_exact_breakdown(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            **{
                "ai.request.headers.user-agent": "ai/6.0.116",
                "ai.usage.inputTokens": 3510,
                "ai.usage.inputTokenDetails.noCacheTokens": 10,
                "ai.usage.inputTokenDetails.cacheReadTokens": 3000,
                "ai.usage.inputTokenDetails.cacheWriteTokens": 500,
                "ai.usage.outputTokens": 200,
                "ai.usage.outputTokenDetails.textTokens": 200,
                "ai.usage.totalTokens": 3710,
                "ai.usage.cachedInputTokens": 3000,
                "gen_ai.usage.input_tokens": 3510,
                "gen_ai.usage.output_tokens": 200,
            }
        ),
        scope="ai",
    )
    call = recorder.only_call()
    assert call.dialect == "vercel"
    assert call.provider == "anthropic"
    assert call.model == "claude-sonnet-4-5-20250929"
    assert call.request_model == "claude-sonnet-4-5"
    assert call.operation == "chat"
    assert call.response_id == "msg_01XyZ"
    assert call.tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_v6_0_prompt_tokens_include_cache_when_the_user_agent_says_v6(recorder) -> None:
    # ai 6.0 before March 2026 still wrote ai.usage.promptTokens, but as inputTokens.total.
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            **{
                "ai.request.headers.user-agent": "ai/6.0.12",
                "ai.usage.promptTokens": 3510,
                "ai.usage.completionTokens": 200,
                "gen_ai.usage.input_tokens": 3510,
                "gen_ai.usage.output_tokens": 200,
                "ai.response.providerMetadata": json.dumps(
                    {"anthropic": {"usage": ANTHROPIC_RAW_USAGE, "cacheCreationInputTokens": 500}}
                ),
            }
        ),
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_v6_0_is_recognized_from_anthropic_raw_usage_without_a_user_agent(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            **{
                "ai.usage.promptTokens": 3510,
                "ai.usage.completionTokens": 200,
                "ai.response.providerMetadata": json.dumps({"anthropic": {"usage": ANTHROPIC_RAW_USAGE}}),
            }
        ),
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_v5_generate_text_reports_anthropic_input_without_cache(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            **{
                "ai.usage.promptTokens": 4000,
                "ai.usage.completionTokens": 200,
                "gen_ai.usage.input_tokens": 4000,
                "gen_ai.usage.output_tokens": 200,
                "ai.response.providerMetadata": json.dumps(
                    {
                        "anthropic": {
                            "usage": {
                                "input_tokens": 4000,
                                "cache_read_input_tokens": 3000,
                                "cache_creation_input_tokens": 500,
                            },
                            "cacheCreationInputTokens": 500,
                        }
                    }
                ),
            }
        ),
    )
    # Exclusive input larger than the cache: only the version tells it apart.
    assert recorder.only_call().tokens == TokenCounts(input=4000, cache_read=3000, cache_write=500, output=200)


def test_v5_stream_text_input_tokens_without_cache(recorder) -> None:
    # v5 streamText already wrote ai.usage.inputTokens, with Anthropic's exclusive count.
    recorder.record(
        "ai.streamText.doStream",
        do_generate(
            **{
                "ai.operationId": "ai.streamText.doStream",
                "ai.usage.inputTokens": 10,
                "ai.usage.outputTokens": 200,
                "ai.usage.totalTokens": 210,
                "ai.usage.cachedInputTokens": 3000,
                "ai.response.msToFirstChunk": 420.5,
            }
        ),
    )
    call = recorder.only_call()
    assert call.operation == "chat"
    assert call.tokens == TokenCounts(input=10, cache_read=3000, output=200)


def test_v5_with_user_agent_keeps_anthropic_input_even_when_larger_than_cache(recorder) -> None:
    recorder.record(
        "ai.streamText.doStream",
        do_generate(
            **{
                "ai.operationId": "ai.streamText.doStream",
                "ai.request.headers.user-agent": "my-app/2.1 ai/5.0.60",
                "ai.usage.inputTokens": 5000,
                "ai.usage.outputTokens": 10,
                "ai.usage.cachedInputTokens": 3000,
            }
        ),
    )
    assert recorder.only_call().tokens == TokenCounts(input=5000, cache_read=3000, output=10)


def test_v4_anthropic_cache_from_provider_metadata(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            **{
                "ai.usage.promptTokens": 10,
                "ai.usage.completionTokens": 200,
                "gen_ai.usage.prompt_tokens": 10,
                "gen_ai.usage.completion_tokens": 200,
                "ai.response.providerMetadata": json.dumps(
                    {"anthropic": {"cacheCreationInputTokens": 500, "cacheReadInputTokens": 3000}}
                ),
            }
        ),
    )
    assert recorder.only_call().tokens == TokenCounts(input=10, cache_read=3000, cache_write=500, output=200)


def test_v4_openai_prompt_tokens_include_cached_tokens(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            provider="openai.chat",
            model="gpt-4o",
            **{
                "ai.usage.promptTokens": 2000,
                "ai.usage.completionTokens": 300,
                "ai.response.providerMetadata": json.dumps(
                    {"openai": {"cachedPromptTokens": 1024, "reasoningTokens": 0}}
                ),
            },
        ),
    )
    call = recorder.only_call()
    assert call.provider == "openai"
    assert call.tokens == TokenCounts(input=976, cache_read=1024, output=300)


def test_v5_gemini_thoughts_are_added_to_output(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            provider="google.generative-ai",
            model="gemini-2.5-flash",
            **{
                "ai.request.headers.user-agent": "ai/5.0.12",
                "ai.usage.promptTokens": 100,
                "ai.usage.completionTokens": 300,
                "ai.response.providerMetadata": json.dumps(
                    {"google": {"usageMetadata": {"thoughtsTokenCount": 120, "promptTokenCount": 100}}}
                ),
            },
        ),
    )
    call = recorder.only_call()
    assert call.provider == "google"
    assert call.tokens == TokenCounts(input=100, output=420, reasoning=120)


def test_v6_gemini_output_already_includes_reasoning(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            provider="google.generative-ai",
            model="gemini-2.5-flash",
            **{
                "ai.usage.inputTokens": 100,
                "ai.usage.inputTokenDetails.noCacheTokens": 100,
                "ai.usage.outputTokens": 420,
                "ai.usage.outputTokenDetails.textTokens": 300,
                "ai.usage.outputTokenDetails.reasoningTokens": 120,
                "ai.usage.reasoningTokens": 120,
                "ai.usage.totalTokens": 520,
            },
        ),
    )
    assert recorder.only_call().tokens == TokenCounts(input=100, output=420, reasoning=120)


def test_a_parent_span_with_gen_ai_usage_is_decided_here_not_by_the_otel_dialect(recorder) -> None:
    recorder.record(
        "ai.generateText",
        {
            "ai.operationId": "ai.generateText",
            "gen_ai.system": "openai.chat",
            "gen_ai.usage.input_tokens": 1500,
            "gen_ai.usage.output_tokens": 90,
        },
    )
    assert recorder.mapped().calls == []


def test_generate_text_parent_and_do_generate_child_are_charged_once(recorder, acme) -> None:
    parent = {
        "ai.operationId": "ai.generateText",
        "operation.name": "ai.generateText support-bot",
        "ai.telemetry.functionId": "support-bot",
        "ai.telemetry.metadata.userId": "user-99",
        "ai.telemetry.metadata.sessionId": "conv-3",
        "ai.model.provider": "openai.chat",
        "ai.model.id": "gpt-4o",
        "ai.usage.promptTokens": 1500,
        "ai.usage.completionTokens": 90,
    }
    with recorder.span("ai.generateText", parent, scope="ai"):
        recorder.record(
            "ai.generateText.doGenerate",
            do_generate(
                provider="openai.chat",
                model="gpt-4o",
                **{
                    "ai.usage.promptTokens": 1000,
                    "ai.usage.completionTokens": 60,
                    "ai.telemetry.metadata.userId": "user-99",
                },
            ),
            scope="ai",
        )
        recorder.record("ai.toolCall", {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "search"}, scope="ai")
        recorder.record(
            "ai.generateText.doGenerate",
            do_generate(
                provider="openai.chat",
                model="gpt-4o",
                **{
                    "ai.usage.promptTokens": 500,
                    "ai.usage.completionTokens": 30,
                    "ai.response.id": "resp-2",
                    "gen_ai.response.id": "resp-2",
                },
            ),
            scope="ai",
        )
    calls = recorder.mapped().calls
    assert sorted(c.tokens.input for c in calls) == [500, 1000]
    resolved = recorder.resolved(acme)
    assert sorted(c.call.input_tokens for c in resolved) == [500, 1000]
    assert all(c.user == "user-99" and c.session == "conv-3" for c in resolved)
    assert all(c.endpoint == "ai.generateText" for c in resolved)


def test_embedding_and_stream_operations(recorder) -> None:
    recorder.record(
        "ai.embed.doEmbed",
        {
            "ai.operationId": "ai.embed.doEmbed",
            "ai.model.provider": "openai.embedding",
            "ai.model.id": "text-embedding-3-small",
            "ai.usage.tokens": 10,
        },
    )
    recorder.record("ai.embed", {"ai.operationId": "ai.embed", "ai.usage.tokens": 10})
    call = recorder.only_call()
    assert call.operation == "embeddings"
    assert call.tokens == TokenCounts(input=10)


def test_gateway_and_openrouter_costs_are_reported(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            provider="gateway",
            **{
                "ai.usage.inputTokens": 3,
                "ai.response.id": "a",
                "gen_ai.response.id": "a",
                "ai.response.providerMetadata": json.dumps({"gateway": {"cost": "0.000265"}}),
            },
        ),
    )
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            provider="openrouter.chat",
            **{
                "ai.usage.inputTokens": 3,
                "ai.response.id": "b",
                "gen_ai.response.id": "b",
                "ai.response.providerMetadata": json.dumps({"openrouter": {"usage": {"cost": 0.00123}}}),
            },
        ),
    )
    assert sorted(c.reported_cost for c in recorder.mapped().calls) == [Decimal("0.000265"), Decimal("0.00123")]


def test_invalid_provider_metadata_tokens_reject_the_span(recorder) -> None:
    recorder.record(
        "ai.generateText.doGenerate",
        do_generate(
            **{
                "ai.usage.promptTokens": 10,
                "ai.response.providerMetadata": json.dumps({"anthropic": {"cacheCreationInputTokens": -3}}),
            }
        ),
    )
    [rejected] = recorder.mapped().rejected
    assert rejected.reason.endswith("ai.response.providerMetadata.anthropic.cacheCreationInputTokens is negative (-3)")


def test_stream_without_usage_is_estimated_from_prompt_messages(recorder) -> None:
    recorder.record(
        "ai.streamText.doStream",
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.provider": "openai.chat",
            "ai.model.id": "gpt-4o",
            "ai.prompt.messages": json.dumps(
                [
                    {"role": "system", "content": "be kind"},
                    {"role": "user", "content": [{"type": "text", "text": "hello friend"}]},
                ]
            ),
            "ai.response.text": "hello back to you",
        },
    )
    call = recorder.only_call(estimate_tokens=count_words)
    assert call.estimated
    assert call.tokens == TokenCounts(input=(2 + 3) + (2 + 3), output=4)
