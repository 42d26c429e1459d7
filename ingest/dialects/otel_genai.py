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
- message text (for a call without usage): ``gen_ai.system_instructions`` +
  ``gen_ai.input.messages`` / ``gen_ai.output.messages``, then the indexed ``gen_ai.prompt.N.*`` /
  ``gen_ai.completion.N.*``, then the ``gen_ai.*`` message events.
- Counts follow the conventions (input includes cache, output includes reasoning) unless the total
  says otherwise; Gemini-family output is settled by the total or marked inferred.

Cannot know: openai-v2 records no cached-token count (cached tokens are then priced as input) and,
with content capture off (its default), a stream without ``include_usage`` has unknown usage.
"""

from __future__ import annotations

from ingest.canonical import LlmCall, SpanView
from ingest.dialects.base import (
    GEN_AI_CACHE_READ,
    GEN_AI_CACHE_WRITE,
    GEN_AI_COST,
    GEN_AI_INPUT,
    GEN_AI_OUTPUT,
    GEN_AI_REASONING,
    GEN_AI_TOTAL,
    ReportedUsage,
    build_call,
    lower_or_none,
    normalize_counts,
    provider_rule,
    read_cost,
    read_tokens,
    text_attr,
    usage_state,
)
from ingest.messages import GEN_AI_EVENTS, GEN_AI_INDEXED, GEN_AI_MESSAGES, MessageFormat

CHARGED_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})


def reported_usage(span: SpanView) -> ReportedUsage:
    return ReportedUsage(
        input=read_tokens(span, *GEN_AI_INPUT),
        output=read_tokens(span, *GEN_AI_OUTPUT),
        cache_read=read_tokens(span, *GEN_AI_CACHE_READ),
        cache_write=read_tokens(span, *GEN_AI_CACHE_WRITE),
        reasoning=read_tokens(span, *GEN_AI_REASONING),
        total=read_tokens(span, *GEN_AI_TOTAL),
    )


class OtelGenAiDialect:
    name = "otel_genai"
    user_keys: tuple[str, ...] = ("llm.user",)
    feature_keys: tuple[str, ...] = ()
    session_keys: tuple[str, ...] = ()
    message_formats: tuple[MessageFormat, ...] = (GEN_AI_MESSAGES, GEN_AI_INDEXED, GEN_AI_EVENTS)
    claim_keys: tuple[str, ...] = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system")

    def claims(self, span: SpanView) -> bool:
        operation = span.attributes.get("gen_ai.operation.name")
        if isinstance(operation, str) and operation:
            return operation.lower() in CHARGED_OPERATIONS
        # Spans from before gen_ai.operation.name existed: a provider and usage make a call.
        has_provider = bool(text_attr(span, "gen_ai.provider.name", "gen_ai.system"))
        has_usage = any(name in span.attributes for name in GEN_AI_INPUT + GEN_AI_OUTPUT)
        return has_provider and has_usage

    def to_call(self, span: SpanView) -> LlmCall:
        # The conventions say input_tokens includes cache reads and writes and output_tokens
        # includes reasoning; normalize_counts also catches reporters that break the rule
        # (Anthropic-style input without cache, Gemini-style output without thoughts).
        usage = reported_usage(span)
        request_model = text_attr(span, "gen_ai.request.model")
        model = text_attr(span, "gen_ai.response.model") or request_model
        provider = lower_or_none(text_attr(span, "gen_ai.provider.name", "gen_ai.system"))
        counts, basis = normalize_counts(usage, provider_rule(provider))
        operation = text_attr(span, "gen_ai.operation.name")
        return build_call(
            span,
            dialect=self.name,
            provider=provider,
            count_basis=basis,
            model=model,
            request_model=request_model,
            operation=operation.lower() if operation else "chat",
            tokens=counts,
            usage_state=usage_state(usage),
            response_id=text_attr(span, "gen_ai.response.id"),
            reported_cost=read_cost(span, GEN_AI_COST),
        )
