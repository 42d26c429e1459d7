"""The Vercel AI SDK's own telemetry (``experimental_telemetry``): ``ai.*`` attributes.

Only the provider-call spans (``ai.operationId`` ending in .doGenerate, .doStream,
.doEmbed) are charged; their ``ai.generateText`` / ``ai.streamText`` parents repeat the
same usage summed over steps. AI SDK v4 to v7 (the version is read from
``ai.request.headers.user-agent`` ``ai/<major>``).

Reads: provider ``ai.model.provider`` (before the first dot); model ``ai.response.model`` |
``ai.model.id``; usage ``ai.usage.inputTokens`` | ``promptTokens``, ``outputTokens`` |
``completionTokens``, ``inputTokenDetails.*`` (v6+, exact), ``cachedInputTokens``,
``reasoningTokens``, ``totalTokens``; ``ai.response.providerMetadata`` JSON: Anthropic cache reads
and writes with the 1-hour split (``cache_creation.ephemeral_1h_input_tokens``) and
``service_tier``, Bedrock cache counts, OpenAI ``serviceTier``, Gemini thoughts and per-modality
counts (``promptTokensDetails`` / ``candidatesTokensDetails``), gateway / OpenRouter cost; user
``ai.telemetry.metadata.userId``, session ``...sessionId``, feature ``...feature``; message text (for
a call without usage) ``ai.prompt.messages`` JSON and ``ai.response.text``, after the OTel forms.

Cannot know: v4/v5 Anthropic input excludes the cache and v6+ includes it; without a version in
the user agent the attribute names decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from costwatch.pricing.cost import TokenCounts
from ingest.canonical import LlmCall, SpanView
from ingest.dialects.base import (
    ReportedUsage,
    build_call,
    dig,
    exclusive_input,
    json_attr,
    money,
    output_with_reasoning,
    read_cost,
    read_tokens,
    service_tier_of,
    text_attr,
    token_count,
    usage_state,
    with_modalities,
)
from ingest.messages import GEN_AI_EVENTS, GEN_AI_MESSAGES, MessageFormat, messages_from_json

OPERATIONS = {".doGenerate": "chat", ".doStream": "chat", ".doEmbed": "embeddings"}
_SDK_VERSION = re.compile(r"(?:^|[\s,])ai/(\d+)\.")
METADATA = "ai.response.providerMetadata"


def _prompt(span: SpanView) -> list[dict[str, str]]:
    return messages_from_json(span.attributes.get("ai.prompt.messages"))


def _completion(span: SpanView) -> str:
    value = span.attributes.get("ai.response.text")
    return value if isinstance(value, str) else ""


MESSAGES = MessageFormat(_prompt, _completion)


class VercelDialect:
    name = "vercel"
    user_keys: tuple[str, ...] = ("ai.telemetry.metadata.userId",)
    feature_keys: tuple[str, ...] = ("ai.telemetry.metadata.feature",)
    session_keys: tuple[str, ...] = ("ai.telemetry.metadata.sessionId",)
    message_formats: tuple[MessageFormat, ...] = (GEN_AI_MESSAGES, MESSAGES, GEN_AI_EVENTS)
    claim_keys: tuple[str, ...] = ("ai.operationId",)

    def claims(self, span: SpanView) -> bool:
        return isinstance(span.attributes.get("ai.operationId"), str)

    def to_call(self, span: SpanView) -> LlmCall | None:
        operation_id = str(span.attributes["ai.operationId"])
        operation = next((op for suffix, op in OPERATIONS.items() if operation_id.endswith(suffix)), None)
        if operation is None:
            return None  # ai.generateText / ai.streamText repeat their children's usage; ai.toolCall is none
        provider_id = (text_attr(span, "ai.model.provider") or "").lower()
        metadata = json_attr(span, METADATA)
        metadata = metadata if isinstance(metadata, Mapping) else {}
        usage, tokens = _usage(span, provider_id, metadata)
        request_model = text_attr(span, "ai.model.id", "gen_ai.request.model")
        model = text_attr(span, "ai.response.model", "gen_ai.response.model") or request_model
        tier = service_tier_of(span, *(dig(metadata, *path) for path in SERVICE_TIER_PATHS))
        return build_call(
            span,
            dialect=self.name,
            provider=provider_id.split(".", 1)[0] or None,
            model=model,
            request_model=request_model,
            operation=operation,
            tokens=tokens,
            usage_state=usage_state(usage),
            response_id=text_attr(span, "ai.response.id", "gen_ai.response.id"),
            reported_cost=_cost(span, metadata),
            service_tier=tier,
        )


def sdk_major_version(span: SpanView) -> int | None:
    """The AI SDK major version from the user agent it records (``ai/6.0.12``), if any."""
    for key, value in span.attributes.items():
        if key.lower() == "ai.request.headers.user-agent" and isinstance(value, str):
            match = _SDK_VERSION.search(value)
            if match:
                return int(match.group(1))
    return None


def _usage(span: SpanView, provider_id: str, metadata: Mapping[str, Any]) -> tuple[ReportedUsage, TokenCounts]:
    reported_input = read_tokens(
        span,
        "ai.usage.inputTokens",
        "ai.usage.promptTokens",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "ai.usage.tokens",
    )
    output = read_tokens(
        span,
        "ai.usage.outputTokens",
        "ai.usage.completionTokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    )
    no_cache = read_tokens(span, "ai.usage.inputTokenDetails.noCacheTokens")
    cache_read = _first(
        read_tokens(span, "ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens"),
        _metadata_tokens(span, metadata, CACHE_READ_PATHS),
    )
    cache_write = _first(
        read_tokens(span, "ai.usage.inputTokenDetails.cacheWriteTokens"),
        _metadata_tokens(span, metadata, CACHE_WRITE_PATHS),
    )
    reasoning = _first(
        read_tokens(span, "ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens"),
        _metadata_tokens(span, metadata, REASONING_PATHS),
    )
    total = read_tokens(span, "ai.usage.totalTokens", "gen_ai.usage.total_tokens")
    usage = ReportedUsage(reported_input, output, cache_read, cache_write, reasoning, total)

    read, write, rin, rout = cache_read or 0, cache_write or 0, reported_input or 0, output or 0
    if no_cache is not None:
        # ai 6.0.x (from March 2026) and 7.x record the provider's breakdown: exact.
        input_tokens = no_cache
    elif _input_includes_cache(span, provider_id, rin, read, write, metadata):
        input_tokens = exclusive_input(rin, read, write)
    else:
        input_tokens = rin
    if _v5_semantics(span) and _reports_thoughts_apart(provider_id):
        # AI SDK <= 5 passed Gemini's candidatesTokenCount through as outputTokens and
        # thoughtsTokenCount as reasoningTokens; v6 usage makes outputTokens the total.
        output_tokens = rout + (reasoning or 0)
    else:
        output_tokens = output_with_reasoning(rout, reasoning or 0, rin, total)
    # Anthropic splits cache writes by lifetime (1-hour writes cost 2x input, 5-minute ones 1.25x).
    write_1h = _metadata_tokens(span, metadata, CACHE_WRITE_1H_PATHS) or 0
    write_1h = min(write_1h, write)
    tokens = TokenCounts(
        input=input_tokens,
        cache_read=read,
        cache_write=write - write_1h,
        cache_write_1h=write_1h,
        output=output_tokens,
        reasoning=reasoning or 0,
    )
    return usage, with_modalities(span, tokens, _google_modalities(span, metadata))


def _google_modalities(span: SpanView, metadata: Mapping[str, Any]) -> dict[str, int | None]:
    """Gemini's per-modality counts (usageMetadata.promptTokensDetails / candidatesTokensDetails:
    [{"modality": "AUDIO", "tokenCount": n}]) as TokenCounts parts."""
    parts: dict[str, int | None] = {}
    for vendor in ("google", "vertex"):
        for field, prefix in (("promptTokensDetails", "input"), ("candidatesTokensDetails", "output")):
            details = dig(metadata, vendor, "usageMetadata", field)
            if not isinstance(details, list):
                continue
            for item in details:
                modality = str(item.get("modality", "")).lower() if isinstance(item, Mapping) else ""
                if modality in ("audio", "image", "video"):
                    parts[f"{prefix}_{modality}"] = token_count(
                        span, f"{METADATA}.{vendor}.usageMetadata.{field}", item.get("tokenCount")
                    )
    return parts


def _input_includes_cache(
    span: SpanView, provider_id: str, reported: int, read: int, write: int, metadata: Mapping[str, Any]
) -> bool:
    """Whether the reported input count includes cache reads and writes.

    AI SDK v6 (LanguageModelV3 usage) reports inputTokens.total = noCache + cacheRead +
    cacheWrite for every provider. Up to v5, each provider passed its API's number through:
    OpenAI and Gemini include cached tokens, Anthropic and Bedrock do not. The attribute
    names do not tell the versions apart reliably (v5 streamText already wrote
    ai.usage.inputTokens, v6.0 generateText still wrote ai.usage.promptTokens), so look
    for the SDK version, then Anthropic's raw usage, then fall back on the names.
    """
    if any(key.startswith("ai.usage.inputTokenDetails.") for key in span.attributes):
        return True
    if not _passes_exclusive_input(provider_id):
        return True
    major = sdk_major_version(span)
    if major is not None:
        return major >= 6
    raw_input = dig(metadata, "anthropic", "usage", "input_tokens")
    if isinstance(raw_input, int) and not isinstance(raw_input, bool) and read + write > 0:
        if reported == raw_input:
            return False
        if reported == raw_input + read + write:
            return True
    return not _v5_semantics(span)


def _v5_semantics(span: SpanView) -> bool:
    major = sdk_major_version(span)
    if major is not None:
        return major <= 5
    attrs = span.attributes
    if any(key.startswith("ai.usage.inputTokenDetails.") for key in attrs):
        return False
    return "ai.usage.promptTokens" in attrs and "ai.usage.inputTokens" not in attrs


def _passes_exclusive_input(provider_id: str) -> bool:
    return "anthropic" in provider_id or provider_id.startswith(("amazon-bedrock", "bedrock"))


def _reports_thoughts_apart(provider_id: str) -> bool:
    return provider_id.startswith(("google", "vertex")) and "anthropic" not in provider_id


# Where providers put usage details in ai.response.providerMetadata (v4 camelCase fields,
# v5+ the raw API usage object).
CACHE_READ_PATHS = (
    ("anthropic", "cacheReadInputTokens"),
    ("anthropic", "usage", "cache_read_input_tokens"),
    ("bedrock", "usage", "cacheReadInputTokens"),
    ("openai", "cachedPromptTokens"),
    ("google", "usageMetadata", "cachedContentTokenCount"),
    ("vertex", "usageMetadata", "cachedContentTokenCount"),
)
CACHE_WRITE_PATHS = (
    ("anthropic", "cacheCreationInputTokens"),
    ("anthropic", "usage", "cache_creation_input_tokens"),
    ("bedrock", "usage", "cacheWriteInputTokens"),
)
CACHE_WRITE_1H_PATHS = (
    ("anthropic", "usage", "cache_creation", "ephemeral_1h_input_tokens"),
    ("anthropic", "cacheCreation", "ephemeral_1h_input_tokens"),
)
SERVICE_TIER_PATHS = (
    ("openai", "serviceTier"),
    ("anthropic", "usage", "service_tier"),
)
REASONING_PATHS = (
    ("openai", "reasoningTokens"),
    ("google", "usageMetadata", "thoughtsTokenCount"),
    ("vertex", "usageMetadata", "thoughtsTokenCount"),
)


def _metadata_tokens(span: SpanView, metadata: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> int | None:
    for path in paths:
        value = dig(metadata, *path)
        if value is not None:
            return token_count(span, f"{METADATA}.{'.'.join(path)}", value)
    return None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _cost(span: SpanView, metadata: Mapping[str, Any]) -> Decimal | None:
    for path in (("gateway", "cost"), ("openrouter", "usage", "cost")):
        value = dig(metadata, *path)
        if value is not None:
            return money(span, f"{METADATA}.{'.'.join(path)}", value)
    return read_cost(span, ("gen_ai.usage.cost",))
