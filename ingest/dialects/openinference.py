"""OpenInference (Arize) instrumentations: ``openinference.span.kind`` LLM or EMBEDDING."""
from __future__ import annotations

from ingest.canonical import LlmCall, SpanView
from ingest.dialects.base import (
    ReportedUsage,
    build_call,
    dig,
    json_attr,
    lower_or_none,
    otel_rule_counts,
    read_cost,
    read_tokens,
    text_attr,
    usage_or_estimate,
)

KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}


class OpenInferenceDialect:
    name = "openinference"
    user_keys: tuple[str, ...] = ()
    feature_keys: tuple[str, ...] = ()
    session_keys: tuple[str, ...] = ()

    def claims(self, span: SpanView) -> bool:
        kind = span.attributes.get("openinference.span.kind")
        return isinstance(kind, str) and kind.upper() in KINDS

    def to_call(self, span: SpanView) -> LlmCall:
        # llm.token_count.prompt includes cache reads and writes (prompt_details are a
        # breakdown of it): OpenAI reports it that way and the Anthropic instrumentations
        # add cache tokens back. Older OpenInference JS Anthropic spans reported Anthropic's
        # raw input; the clamp in otel_rule_counts keeps those whole when input < cache.
        usage = ReportedUsage(
            input=read_tokens(span, "llm.token_count.prompt"),
            output=read_tokens(span, "llm.token_count.completion"),
            cache_read=read_tokens(
                span, "llm.token_count.prompt_details.cache_read", "llm.token_count.prompt_details.cached"
            ),
            cache_write=read_tokens(span, "llm.token_count.prompt_details.cache_write"),
            reasoning=read_tokens(span, "llm.token_count.completion_details.reasoning"),
            total=read_tokens(span, "llm.token_count.total"),
        )
        # The requested model is only inside the invocation parameters JSON.
        requested = dig(json_attr(span, "llm.invocation_parameters"), "model")
        request_model = requested if isinstance(requested, str) and requested else None
        model = text_attr(span, "llm.model_name", "embedding.model_name") or request_model
        tokens, usage_state = usage_or_estimate(span, usage, otel_rule_counts(usage), model)
        return build_call(
            span,
            dialect=self.name,
            provider=lower_or_none(text_attr(span, "llm.provider", "llm.system")),
            model=model,
            request_model=request_model,
            operation=KINDS[str(span.attributes["openinference.span.kind"]).upper()],
            tokens=tokens,
            usage_state=usage_state,
            response_id=text_attr(span, "gen_ai.response.id"),
            reported_cost=read_cost(span, ("llm.cost.total",)),
        )
