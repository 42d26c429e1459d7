"""OpenLLMetry (Traceloop) instrumentations: ``llm.request.type`` marks their LLM spans.

They emit the OTel usage names (older releases the ``gen_ai.usage.prompt_tokens`` /
``llm.usage.*`` forms) plus Traceloop association properties for attribution
(``opentelemetry-instrumentation-openai`` / ``-anthropic`` / ``-bedrock`` 0.3x to 0.6x).

Reads: ``llm.request.type`` chat / completion / embedding; provider ``gen_ai.system`` (display
names, lower-cased); model, response id and usage as the OTel dialect, plus
``llm.usage.cache_read_input_tokens`` and ``gen_ai.usage.total_tokens``; service tier as the OTel
dialect; user ``gen_ai.user`` (the request's ``user=``) and
``traceloop.association.properties.user_id``, session ``...session_id``, feature ``...feature``;
message text (for a call without usage) as the OTel dialect, whose indexed ``gen_ai.prompt.N.*`` /
``gen_ai.completion.N.*`` form is OpenLLMetry's content capture.
Input includes cache tokens in every OpenLLMetry instrumentation (the Anthropic one adds them
back); the total, when present, still decides.

Cannot know: the Anthropic instrumentation over-counts streamed output by one token (kept as
reported); 1-hour cache writes are not split from 5-minute ones (priced at the 5-minute rate).
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

REQUEST_TYPES = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}
CACHE_READ = (*GEN_AI_CACHE_READ, "llm.usage.cache_read_input_tokens")


class TraceloopDialect:
    name = "traceloop"
    user_keys: tuple[str, ...] = ("gen_ai.user", "traceloop.association.properties.user_id")
    feature_keys: tuple[str, ...] = ("traceloop.association.properties.feature",)
    session_keys: tuple[str, ...] = ("traceloop.association.properties.session_id",)
    message_formats: tuple[MessageFormat, ...] = (GEN_AI_MESSAGES, GEN_AI_INDEXED, GEN_AI_EVENTS)
    claim_keys: tuple[str, ...] = ("llm.request.type",)

    def claims(self, span: SpanView) -> bool:
        request_type = span.attributes.get("llm.request.type")
        return isinstance(request_type, str) and request_type.lower() in REQUEST_TYPES

    def to_call(self, span: SpanView) -> LlmCall:
        # Every OpenLLMetry instrumentation reports input including cache tokens: the
        # Anthropic one adds cache_read + cache_creation back onto Anthropic's input_tokens
        # since it started recording cache attributes, so the OTel rule applies to all.
        # Its Anthropic stream handling over-counts output by one token; that is upstream
        # data we cannot tell apart and keep as reported.
        usage = ReportedUsage(
            input=read_tokens(span, *GEN_AI_INPUT),
            output=read_tokens(span, *GEN_AI_OUTPUT),
            cache_read=read_tokens(span, *CACHE_READ),
            cache_write=read_tokens(span, *GEN_AI_CACHE_WRITE),
            reasoning=read_tokens(span, *GEN_AI_REASONING),
            total=read_tokens(span, *GEN_AI_TOTAL),
        )
        request_model = text_attr(span, "gen_ai.request.model")
        model = text_attr(span, "gen_ai.response.model") or request_model
        # Traceloop writes display names such as "Anthropic" and "OpenAI".
        provider = lower_or_none(text_attr(span, "gen_ai.provider.name", "gen_ai.system"))
        counts, basis = normalize_counts(usage, provider_rule(provider))
        return build_call(
            span,
            dialect=self.name,
            provider=provider,
            count_basis=basis,
            model=model,
            request_model=request_model,
            operation=self._operation(span),
            tokens=counts,
            usage_state=usage_state(usage),
            response_id=text_attr(span, "gen_ai.response.id"),
            reported_cost=read_cost(span, GEN_AI_COST),
        )

    def _operation(self, span: SpanView) -> str:
        operation = text_attr(span, "gen_ai.operation.name")
        if operation:
            return operation.lower()
        request_type = str(span.attributes["llm.request.type"]).lower()
        # The Anthropic instrumentation marks messages.create ("anthropic.chat") as completion.
        if request_type == "completion" and span.name.endswith(".chat"):
            return "chat"
        return REQUEST_TYPES[request_type]
