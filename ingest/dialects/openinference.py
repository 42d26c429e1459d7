"""OpenInference (Arize) instrumentations: ``openinference.span.kind`` LLM or EMBEDDING.

Emitted by ``openinference-instrumentation-*`` (OpenAI, Anthropic, Bedrock, LangChain, LlamaIndex,
OpenAI Agents, CrewAI, Strands ...; Python 0.1.x, JS 1.x/2.x) and Arize Phoenix.

Reads: provider ``llm.provider`` | ``llm.system``; model ``llm.model_name`` (the requested one only
inside ``llm.invocation_parameters`` JSON, with its ``service_tier``); usage
``llm.token_count.prompt``, ``completion``, ``total``, ``prompt_details.cache_read`` | ``cached``,
``prompt_details.cache_write``, ``completion_details.reasoning``, and the modality details
``prompt_details.audio`` / ``image`` and ``completion_details.audio`` / ``image``; cost
``llm.cost.total``; user ``user.id``, session ``session.id``.

Cannot know: Bedrock and some LangChain / Strands spans put the provider's raw prompt (without
cache) in ``llm.token_count.prompt``; without ``llm.token_count.total`` that is decided from sizes
and the call is marked ``inferred``. Framework LLM spans wrapping the SDK's are counted once
(``costwatch.usage.rollups``).
"""
from __future__ import annotations

from ingest.canonical import LlmCall, SpanView
from ingest.dialects.base import (
    ReportedUsage,
    build_call,
    dig,
    json_attr,
    lower_or_none,
    BEDROCK_PROVIDERS,
    CountRule,
    normalize_counts,
    provider_rule,
    read_cost,
    read_tokens,
    service_tier_of,
    text_attr,
    usage_or_estimate,
    with_modalities,
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
        # llm.token_count.prompt includes cache reads and writes by the OpenInference spec
        # (prompt_details are a breakdown of it): OpenAI reports it that way and the Anthropic
        # instrumentations add cache tokens back. Bedrock (Converse) and some LangChain /
        # Strands spans put the provider's raw prompt (without cache) there instead, and older
        # OpenInference JS Anthropic spans did too: for Bedrock nothing is documented, so the
        # total decides (prompt + completion + cache = total means the prompt excludes it),
        # else the sizes, and the call is marked inferred.
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
        parameters = json_attr(span, "llm.invocation_parameters")
        requested = dig(parameters, "model")
        request_model = requested if isinstance(requested, str) and requested else None
        model = text_attr(span, "llm.model_name", "embedding.model_name") or request_model
        provider = lower_or_none(text_attr(span, "llm.provider", "llm.system"))
        rule = provider_rule(provider)
        if provider and provider.startswith(BEDROCK_PROVIDERS):
            rule = CountRule(cache_in_input=None, reasoning_in_output=rule.reasoning_in_output)
        counts, basis = normalize_counts(usage, rule)
        # OpenInference's detail counts: audio (and image) parts of the prompt and completion.
        counts = with_modalities(span, counts, {
            "input_audio": read_tokens(span, "llm.token_count.prompt_details.audio"),
            "input_image": read_tokens(span, "llm.token_count.prompt_details.image"),
            "output_audio": read_tokens(span, "llm.token_count.completion_details.audio"),
            "output_image": read_tokens(span, "llm.token_count.completion_details.image"),
        })
        tokens, usage_state = usage_or_estimate(span, usage, counts, model)
        return build_call(
            span,
            dialect=self.name,
            provider=provider,
            count_basis=basis,
            service_tier=service_tier_of(span, dig(parameters, "service_tier")),
            model=model,
            request_model=request_model,
            operation=KINDS[str(span.attributes["openinference.span.kind"]).upper()],
            tokens=tokens,
            usage_state=usage_state,
            response_id=text_attr(span, "gen_ai.response.id"),
            reported_cost=read_cost(span, ("llm.cost.total",)),
        )
