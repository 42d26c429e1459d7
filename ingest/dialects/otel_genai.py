"""The OpenTelemetry GenAI semantic conventions, current and deprecated attribute names.

Emitted by the official ``opentelemetry-instrumentation-openai-v2`` (2.x), ``-google-genai`` and
friends, the anthropic SDK's own tracing (2.x), Pydantic AI / Logfire, and any framework that
follows the conventions (semantic-conventions v1.27 to v1.41, ``model/gen-ai/``).

Reads (first present wins):
- call: ``gen_ai.operation.name`` chat / text_completion / generate_content / embeddings; before
  that attribute existed, a provider plus usage.
- provider ``gen_ai.provider.name`` | ``gen_ai.system``; model ``gen_ai.response.model`` |
  ``gen_ai.request.model``; ``gen_ai.response.id``.
- usage ``gen_ai.usage.input_tokens`` | ``prompt_tokens``, ``output_tokens`` | ``completion_tokens``,
  ``cache_read.input_tokens`` | ``cache_read_input_tokens``, ``cache_creation.input_tokens`` |
  ``cache_creation_input_tokens`` | ``cache_write.input_tokens`` (the anthropic SDK),
  ``reasoning.output_tokens`` | ``reasoning_tokens``, ``total_tokens``; cost ``gen_ai.usage.cost``.
- service tier ``openai.response.service_tier`` | ``openai.request.service_tier`` (and the
  deprecated ``gen_ai.openai.*`` names).
- Counts follow the conventions (input includes cache, output includes reasoning) unless the total
  says otherwise; Gemini-family output is settled by the total or marked inferred.

Cannot know: openai-v2 records no cached-token count (cached tokens are then priced as input) and,
with content capture off (its default), a stream without ``include_usage`` has unknown usage.
"""
from __future__ import annotations

from ingest.canonical import LlmCall, SpanView
from ingest.dialects.base import (
    ReportedUsage,
    build_call,
    lower_or_none,
    normalize_counts,
    provider_rule,
    read_cost,
    read_tokens,
    text_attr,
    usage_or_estimate,
)

CHARGED_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
# The anthropic SDK's own tracing says cache_write where the conventions say cache_creation.
CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
)
REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens")
TOTAL = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
COST = ("gen_ai.usage.cost", "llm.usage.total_cost")


def reported_usage(span: SpanView) -> ReportedUsage:
    return ReportedUsage(
        input=read_tokens(span, *INPUT),
        output=read_tokens(span, *OUTPUT),
        cache_read=read_tokens(span, *CACHE_READ),
        cache_write=read_tokens(span, *CACHE_WRITE),
        reasoning=read_tokens(span, *REASONING),
        total=read_tokens(span, *TOTAL),
    )


class OtelGenAiDialect:
    name = "otel_genai"
    user_keys: tuple[str, ...] = ("llm.user",)
    feature_keys: tuple[str, ...] = ()
    session_keys: tuple[str, ...] = ()

    def claims(self, span: SpanView) -> bool:
        operation = span.attributes.get("gen_ai.operation.name")
        if isinstance(operation, str) and operation:
            return operation.lower() in CHARGED_OPERATIONS
        # Spans from before gen_ai.operation.name existed: a provider and usage make a call.
        # Spans of other dialects' parents (Vercel ai.*, OpenInference CHAIN) are not calls.
        if "ai.operationId" in span.attributes or "openinference.span.kind" in span.attributes:
            return False
        has_provider = bool(text_attr(span, "gen_ai.provider.name", "gen_ai.system"))
        has_usage = any(name in span.attributes for name in INPUT + OUTPUT)
        return has_provider and has_usage

    def to_call(self, span: SpanView) -> LlmCall:
        # The conventions say input_tokens includes cache reads and writes and output_tokens
        # includes reasoning; otel_rule_counts also catches reporters that break the rule
        # (Anthropic-style input without cache, Gemini-style output without thoughts).
        usage = reported_usage(span)
        request_model = text_attr(span, "gen_ai.request.model")
        model = text_attr(span, "gen_ai.response.model") or request_model
        provider = lower_or_none(text_attr(span, "gen_ai.provider.name", "gen_ai.system"))
        counts, basis = normalize_counts(usage, provider_rule(provider))
        tokens, usage_state = usage_or_estimate(span, usage, counts, model)
        operation = text_attr(span, "gen_ai.operation.name")
        return build_call(
            span,
            dialect=self.name,
            provider=provider,
            count_basis=basis,
            model=model,
            request_model=request_model,
            operation=operation.lower() if operation else "chat",
            tokens=tokens,
            usage_state=usage_state,
            response_id=text_attr(span, "gen_ai.response.id"),
            reported_cost=read_cost(span, COST),
        )
