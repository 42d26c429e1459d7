"""Whether a count includes its parts is decided from what the span says: the total first, then the
reporter's documented rule, and only then the sizes (marked ``inferred``)."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from costwatch.pricing.cost import TokenCounts
from ingest.dialects.base import CountRule, ReportedUsage, normalize_counts


def _openinference(provider: str, prompt: int, completion: int, cache_read: int, total: int | None) -> dict:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.provider": provider,
        "llm.system": "anthropic",
        "llm.model_name": "claude-sonnet-4-5",
        "llm.token_count.prompt": prompt,
        "llm.token_count.completion": completion,
        "llm.token_count.prompt_details.cache_read": cache_read,
    }
    if total is not None:
        attrs["llm.token_count.total"] = total
    return attrs


def test_the_total_settles_a_bedrock_prompt_that_excludes_the_cache(recorder) -> None:  # noqa: ANN001
    # The handed case's shape, and a size range where the old size rule guessed wrong (6000 >= 4000).
    recorder.record("bedrock", _openinference("aws", 6000, 300, 4000, total=10300))
    call = recorder.only_call()
    assert call.tokens == TokenCounts(input=6000, cache_read=4000, output=300)
    assert call.count_basis == "from_total"


def test_the_total_settles_a_prompt_that_includes_the_cache(recorder) -> None:  # noqa: ANN001
    recorder.record("bedrock", _openinference("aws", 6000, 300, 4000, total=6300))
    call = recorder.only_call()
    assert call.tokens == TokenCounts(input=2000, cache_read=4000, output=300)
    assert call.count_basis == "from_total"


def test_bedrock_without_a_total_is_decided_from_sizes_and_marked_inferred(recorder) -> None:  # noqa: ANN001
    recorder.record("bedrock", _openinference("aws", 6000, 300, 4000, total=None))
    call = recorder.only_call()
    assert call.count_basis == "inferred"
    assert call.tokens.input == 2000  # the documented fallback: input >= cache reads as inclusive


def test_openai_through_openinference_follows_the_spec_without_a_total(recorder) -> None:  # noqa: ANN001
    recorder.record("openai", {**_openinference("openai", 6000, 300, 4000, total=None), "llm.system": "openai"})
    call = recorder.only_call()
    assert (call.tokens.input, call.count_basis) == (2000, "reported")


def test_gemini_thoughts_outside_the_output_are_added_when_the_total_says_so(recorder) -> None:  # noqa: ANN001
    attrs = {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-pro",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.reasoning.output_tokens": 400,
        "gen_ai.usage.total_tokens": 1000,
    }
    recorder.record("generate_content gemini-2.5-pro", attrs, kind=SpanKind.CLIENT)
    call = recorder.only_call()
    assert (call.tokens.output, call.tokens.reasoning, call.count_basis) == (900, 400, "from_total")


def test_gemini_thoughts_inside_the_output_per_the_total(recorder) -> None:  # noqa: ANN001
    attrs = {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-pro",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.reasoning.output_tokens": 400,
        "gen_ai.usage.total_tokens": 600,
    }
    recorder.record("generate_content gemini-2.5-pro", attrs, kind=SpanKind.CLIENT)
    assert recorder.only_call().tokens.output == 500


def test_an_otel_input_smaller_than_its_cache_cannot_include_it_and_is_marked(recorder) -> None:  # noqa: ANN001
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_read.input_tokens": 3000,
    }
    recorder.record("chat", attrs, kind=SpanKind.CLIENT)
    call = recorder.only_call()
    assert (call.tokens.input, call.count_basis) == (10, "inferred")


def test_normalize_counts_prefers_the_total_over_the_documented_rule() -> None:
    usage = ReportedUsage(input=5000, output=100, cache_read=4000, total=9100)
    counts, basis = normalize_counts(usage, CountRule(cache_in_input=True))
    assert (counts.input, basis) == (5000, "from_total")
    # A total that fits no reading is ignored: the documented rule holds.
    counts, basis = normalize_counts(ReportedUsage(input=5000, output=100, cache_read=4000, total=1), CountRule())
    assert (counts.input, basis) == (1000, "reported")
    # Nothing to decide without cache or reasoning.
    assert normalize_counts(ReportedUsage(input=5, output=1), CountRule(None, None)) == (
        TokenCounts(input=5, output=1),
        "reported",
    )
