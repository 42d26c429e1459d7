"""OpenInference (Arize) instrumentations: spans with ``openinference.span.kind``; LLM and EMBEDDING are calls.

Emitted by ``openinference-instrumentation-*`` (OpenAI, Anthropic, Bedrock, LangChain, LlamaIndex,
OpenAI Agents, CrewAI, Strands ...; Python 0.1.x, JS 1.x/2.x) and Arize Phoenix.

Reads: provider ``llm.provider`` | ``llm.system``; model ``llm.model_name`` (the requested one only
inside ``llm.invocation_parameters`` JSON, with its ``service_tier``); usage
``llm.token_count.prompt``, ``completion``, ``total``, ``prompt_details.cache_read`` | ``cached``,
``prompt_details.cache_write``, ``completion_details.reasoning``, and the modality details
``prompt_details.audio`` / ``image`` and ``completion_details.audio`` / ``image``; cost
``llm.cost.total``; user ``user.id``, session ``session.id``; message text (for a call without
usage) ``llm.input_messages.N.message.content`` (or its ``message.contents.M.*.text`` parts) and
``llm.output_messages.N.*``, after the OTel forms.

Cannot know: Bedrock and some LangChain / Strands spans put the provider's raw prompt (without
cache) in ``llm.token_count.prompt``; without ``llm.token_count.total`` that is decided from sizes
and the call is marked ``inferred``. Framework LLM spans wrapping the SDK's are counted once
(``costwatch.usage.rollups``).
"""

from __future__ import annotations

import re

from ingest.canonical import LlmCall, SpanView
from ingest.dialects.base import (
    BEDROCK_PROVIDERS,
    CountRule,
    ReportedUsage,
    build_call,
    dig,
    json_attr,
    lower_or_none,
    normalize_counts,
    provider_rule,
    read_cost,
    read_tokens,
    service_tier_of,
    text_attr,
    usage_state,
    with_modalities,
)
from ingest.messages import (
    GEN_AI_EVENTS,
    GEN_AI_MESSAGES,
    MessageFormat,
    chat_message,
    indexed,
    join_texts,
)

KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}


def _messages(span: SpanView, prefix: str) -> list[dict[str, str]]:
    out = []
    for fields in indexed(span, prefix).values():
        content = fields.get("message.content")
        if content is None:
            parts = {k: v for k, v in fields.items() if k.startswith("message.contents.") and k.endswith(".text")}
            content = [parts[k] for k in sorted(parts, key=_part_index)]
        message = chat_message(fields.get("message.role"), content)
        if message:
            out.append(message)
    return out


def _part_index(key: str) -> int:
    match = re.search(r"contents\.(\d+)\.", key)
    return int(match.group(1)) if match else 0


def _prompt(span: SpanView) -> list[dict[str, str]]:
    return _messages(span, "llm.input_messages")


def _completion(span: SpanView) -> str:
    return join_texts(m["content"] for m in _messages(span, "llm.output_messages"))


MESSAGES = MessageFormat(_prompt, _completion)


class OpenInferenceDialect:
    name = "openinference"
    user_keys: tuple[str, ...] = ()
    feature_keys: tuple[str, ...] = ()
    session_keys: tuple[str, ...] = ()
    message_formats: tuple[MessageFormat, ...] = (GEN_AI_MESSAGES, MESSAGES, GEN_AI_EVENTS)
    claim_keys: tuple[str, ...] = ("openinference.span.kind",)

    def claims(self, span: SpanView) -> bool:
        return isinstance(span.attributes.get("openinference.span.kind"), str)

    def to_call(self, span: SpanView) -> LlmCall | None:
        operation = KINDS.get(str(span.attributes["openinference.span.kind"]).upper())
        if operation is None:
            return None  # a CHAIN, AGENT, TOOL ... span: it may carry gen_ai.* usage, but is no call
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
        counts = with_modalities(
            span,
            counts,
            {
                "input_audio": read_tokens(span, "llm.token_count.prompt_details.audio"),
                "input_image": read_tokens(span, "llm.token_count.prompt_details.image"),
                "output_audio": read_tokens(span, "llm.token_count.completion_details.audio"),
                "output_image": read_tokens(span, "llm.token_count.completion_details.image"),
            },
        )
        return build_call(
            span,
            dialect=self.name,
            provider=provider,
            count_basis=basis,
            service_tier=service_tier_of(span, dig(parameters, "service_tier")),
            model=model,
            request_model=request_model,
            operation=operation,
            tokens=counts,
            usage_state=usage_state(usage),
            response_id=text_attr(span, "gen_ai.response.id"),
            reported_cost=read_cost(span, ("llm.cost.total",)),
        )
