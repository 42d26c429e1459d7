"""What a dialect is, and the reading and normalizing helpers every dialect shares."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from costwatch.pricing.cost import TokenCounts
from ingest.canonical import LlmCall, SpanView
from ingest.messages import MessageFormat

MAX_TOKENS = 10**9
MAX_COST = Decimal(10**6)
_DIGITS = re.compile(r"\+?\d+")

# Usage attributes of the OTel GenAI conventions, current names first, then the deprecated ones and
# OpenLLMetry's llm.usage.* forerunners: more than one instrumentation family writes them.
GEN_AI_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
GEN_AI_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
GEN_AI_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
# The anthropic SDK's own tracing says cache_write where the conventions say cache_creation.
GEN_AI_CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
)
GEN_AI_REASONING = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
)
GEN_AI_TOTAL = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
GEN_AI_COST = ("gen_ai.usage.cost", "llm.usage.total_cost")


class InvalidSpan(Exception):
    """The span is an LLM call but its data cannot be trusted; it is rejected alone."""


class Dialect(Protocol):
    """One instrumentation family: which spans are its own and how they map to calls."""

    name: str
    # Attribution keys this dialect's instrumentations put on their spans (LLM or not).
    user_keys: tuple[str, ...]
    feature_keys: tuple[str, ...]
    session_keys: tuple[str, ...]
    # Where its spans carry prompt and completion text, first found wins (``ingest.messages``):
    # read only for a call without usage, to estimate its tokens.
    message_formats: tuple[MessageFormat, ...]
    # Attribute keys that mark its spans: every span it claims carries at least one of them. The
    # registry asks ``claims`` only of a span that does, and ingest drops a span carrying none of
    # any dialect's (and nothing else mapping reads) before converting it (``ingest.mapping``).
    claim_keys: tuple[str, ...]

    def claims(self, span: SpanView) -> bool:
        """Whether the span is this dialect's to decide; the registry asks the dialects in order,
        each only about spans that carry one of its ``claim_keys``."""
        ...

    def to_call(self, span: SpanView) -> LlmCall | None:
        """The call a claimed span records, or None for a span of the family that is no call
        (a parent or tool span). Usage the span does not report is ``USAGE_UNKNOWN``, for
        mapping to estimate. Raises ``InvalidSpan`` when the span's data cannot be trusted."""
        ...


@dataclass  # not frozen: one per call, and a frozen dataclass is several times dearer to build
class ReportedUsage:
    """Token counts as a span reports them, before normalization; None = not reported."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    total: int | None = None

    @property
    def any(self) -> bool:
        return (
            self.input is not None
            or self.output is not None
            or self.cache_read is not None
            or self.cache_write is not None
        )


def read_tokens(span: SpanView, *names: str) -> int | None:
    """The first of ``names`` present on the span, as a validated token count."""
    attributes = span.attributes
    for name in names:
        if name in attributes:
            return token_count(span, name, attributes[name])
    return None


def token_count(span: SpanView, name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidSpan(f"span {span.span_id}: {name} is not a number ({value!r})")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidSpan(f"span {span.span_id}: {name} is not a finite number ({value!r})")
        if value != int(value):
            raise InvalidSpan(f"span {span.span_id}: {name} is not an integer ({value!r})")
        count = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 20:
            raise InvalidSpan(f"span {span.span_id}: {name} is not a sane token count ({text[:20]!r}...)")
        if text.startswith("-") and _DIGITS.fullmatch(text[1:]) or _DIGITS.fullmatch(text):
            count = int(text)
        else:
            raise InvalidSpan(f"span {span.span_id}: {name} is not an integer ({value!r})")
    else:
        raise InvalidSpan(f"span {span.span_id}: {name} is not a number ({value!r})")
    if count < 0:
        raise InvalidSpan(f"span {span.span_id}: {name} is negative ({count})")
    if count > MAX_TOKENS:
        raise InvalidSpan(f"span {span.span_id}: {name} is absurdly large ({count})")
    return count


def read_cost(span: SpanView, names: tuple[str, ...], values: Mapping[str, Any] | None = None) -> Decimal | None:
    """A money amount carried by the span, exact: Decimal(str(value)), never through float math."""
    source = span.attributes if values is None else values
    for name in names:
        if name in source and source[name] is not None:
            return money(span, name, source[name])
    return None


def money(span: SpanView, name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidSpan(f"span {span.span_id}: {name} is not a number ({value!r})")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidSpan(f"span {span.span_id}: {name} is not a number ({value!r})") from exc
    if not amount.is_finite():
        raise InvalidSpan(f"span {span.span_id}: {name} is not a finite number ({value!r})")
    if amount < 0:
        raise InvalidSpan(f"span {span.span_id}: {name} is negative ({value!r})")
    if amount > MAX_COST:
        raise InvalidSpan(f"span {span.span_id}: {name} is absurdly large ({value!r})")
    return amount


def text_attr(span: SpanView, *names: str) -> str | None:
    for name in names:
        value = span.attributes.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def json_attr(span: SpanView, name: str) -> Any:
    value = span.attributes.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def exclusive_input(reported: int, cache_read: int, cache_write: int) -> int:
    """Input without cache reads and writes, from an input count that should include them.

    When the reported input is smaller than the cache tokens it cannot include them: the
    reporter followed Anthropic's API (cache reported beside input), so it is kept as is.
    """
    cached = cache_read + cache_write
    if reported >= cached:
        return reported - cached
    return reported


def output_with_reasoning(output: int, reasoning: int, reported_input: int, total: int | None) -> int:
    """Output including reasoning tokens, from an output count that should include them.

    Gemini reports thoughts beside candidates; some instrumentations copy that through.
    It shows when the output is smaller than the reasoning, or when the reported total
    only adds up with reasoning counted on top of the output.
    """
    if reasoning <= 0:
        return output
    if output < reasoning:
        return output + reasoning
    if total is not None and total == reported_input + output + reasoning:
        return output + reasoning
    return output


# Service tier attributes, response first (the tier that served the call), then the requested one.
# OpenAI: openai.{request,response}.service_tier (GenAI semconv), gen_ai.openai.* (deprecated names).
SERVICE_TIER_ATTRIBUTES = (
    "openai.response.service_tier",
    "gen_ai.openai.response.service_tier",
    "gen_ai.response.service_tier",
    "openai.request.service_tier",
    "gen_ai.openai.request.service_tier",
    "gen_ai.request.service_tier",
)
_SERVICE_TIER_KEYS = frozenset(SERVICE_TIER_ATTRIBUTES)
# Provider tier names to the catalog's (costwatch.pricing.cost.SERVICE_TIERS); others are kept as
# given (e.g. OpenAI "scale") and priced at the standard rate, marked approximate.
_TIER_NAMES = {
    "default": "standard",
    "auto": "standard",
    "standard": "standard",
    "on_demand": "standard",
    "flex": "flex",
    "batch": "batch",
    "priority": "priority",
    "fast": "fast",
    "scale": "scale",
}


def service_tier_of(span: SpanView, *more: Any) -> str | None:
    """The call's service tier: the span's tier attributes (response before request), else the
    first of ``more`` (values a dialect found elsewhere, e.g. in provider metadata). None when the
    span says nothing (priced at the standard rate, which is what a request without a tier gets)."""
    attributes = span.attributes
    if not more and _SERVICE_TIER_KEYS.isdisjoint(attributes):
        return None
    for value in (*map(attributes.get, SERVICE_TIER_ATTRIBUTES), *more):
        if isinstance(value, str) and value.strip():
            name = value.strip().lower()
            return _TIER_NAMES.get(name, name[:16])
    return None


def is_truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False


def lower_or_none(value: str | None) -> str | None:
    return value.lower() if value else None


def build_call(
    span: SpanView,
    *,
    dialect: str,
    provider: str | None,
    model: str | None,
    request_model: str | None,
    operation: str,
    tokens: TokenCounts,
    usage_state: str,
    response_id: str | None,
    reported_cost: Decimal | None,
    count_basis: str = "reported",
    service_tier: str | None = None,
) -> LlmCall:
    """An LlmCall with the span-level facts every dialect fills the same way.

    Attribution (user, feature, endpoint, session) is left empty: mapping fills it from
    this span and the rest of its trace.
    """
    service = span.resource.get("service.name")
    return LlmCall(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        provider=provider,
        model=model,
        request_model=request_model,
        operation=operation,
        start=span.start,
        end=span.end,
        tokens=tokens,
        usage_state=usage_state,
        count_basis=count_basis,
        service_tier=service_tier if service_tier is not None else service_tier_of(span),
        response_cache_hit=is_truthy(span.attributes.get("costwatch.cache.hit")),
        user=None,
        feature=None,
        endpoint=None,
        session=None,
        response_id=response_id,
        is_error=span.status_error or bool(span.attributes.get("error.type")),
        reported_cost=reported_cost,
        dialect=dialect,
        service=service if isinstance(service, str) and service else None,
    )


USAGE_REPORTED = "reported"
USAGE_ESTIMATED = "estimated"
USAGE_UNKNOWN = "unknown"


def usage_state(usage: ReportedUsage) -> str:
    """``reported`` when the span reports usage, else ``unknown``: zero counts that must never be
    priced as $0 (a stream without ``include_usage``, or content capture off). Mapping turns
    ``unknown`` into ``estimated`` when the span carries message text (``ingest.mapping``)."""
    return USAGE_REPORTED if usage.any else USAGE_UNKNOWN


# How a call's counts were read (stored as the call's ``count_basis``).
COUNTS_REPORTED = "reported"  # as the span reports them, under its reporter's documented rule
COUNTS_FROM_TOTAL = "from_total"  # whether input includes the cache / output the reasoning: settled by the total
COUNTS_INFERRED = "inferred"  # no total, no documented rule that fits: decided from the sizes (a fallback)

GOOGLE_PROVIDERS = ("gcp.gemini", "gcp.vertex_ai", "gemini", "vertex_ai", "google", "vertex", "gcp.gen_ai")
BEDROCK_PROVIDERS = ("aws", "aws.bedrock", "bedrock", "amazon", "amazon_bedrock", "amazon-bedrock")


@dataclass(frozen=True)
class CountRule:
    """What a reporter documents about its counts; None where it documents nothing reliable.

    ``cache_in_input``: the input count includes cache reads and writes (the OTel GenAI rule, OpenAI,
    Gemini, OpenLLMetry, OpenInference) or not (Anthropic's and Bedrock's raw API usage).
    ``reasoning_in_output``: the output count includes reasoning tokens (OpenAI, the OTel rule) or
    not (Gemini's candidates without thoughts).
    """

    cache_in_input: bool | None = True
    reasoning_in_output: bool | None = True


OTEL_RULE = CountRule()


def provider_rule(provider: str | None, base: CountRule = OTEL_RULE) -> CountRule:
    """``base`` with what the provider leaves undocumented: Gemini-family output may or may not
    hold the thoughts depending on the instrumentation, so the total (or the sizes) decides."""
    if provider and provider.lower().startswith(GOOGLE_PROVIDERS):
        return CountRule(base.cache_in_input, None)
    return base


def normalize_counts(usage: ReportedUsage, rule: CountRule = OTEL_RULE) -> tuple[TokenCounts, str]:
    """Counts under Costwatch's formula (input without cache, output with reasoning) and how they
    were read (``COUNTS_*``).

    Order of evidence: (1) the reported total, when exactly one reading of the parts adds up to
    it; (2) the reporter's documented rule (``rule``), when it is possible for these sizes; (3) a
    fallback from the sizes: input includes the cache when it is at least as large, output
    includes reasoning when it is at least as large — such calls are ``COUNTS_INFERRED``.
    """
    read, write = usage.cache_read or 0, usage.cache_write or 0
    reported_input, output, reasoning = usage.input or 0, usage.output or 0, usage.reasoning or 0
    cache = read + write
    if not read and not write and not reasoning:  # nothing to place: the counts are as reported
        return TokenCounts(input=reported_input, output=output), COUNTS_REPORTED
    by_total_cache: bool | None = None
    by_total_reasoning: bool | None = None
    if usage.total is not None and (cache or reasoning):
        readings = [
            (with_cache, with_reasoning)
            for with_cache in ((True, False) if cache else (True,))
            for with_reasoning in ((True, False) if reasoning else (True,))
            if (not with_cache or reported_input >= cache)
            and (not with_reasoning or output >= reasoning)
            and reported_input + (0 if with_cache else cache) + output + (0 if with_reasoning else reasoning)
            == usage.total
        ]
        if cache and len({r[0] for r in readings}) == 1:
            by_total_cache = readings[0][0]
        if reasoning and len({r[1] for r in readings}) == 1:
            by_total_reasoning = readings[0][1]
    basis = COUNTS_FROM_TOTAL if by_total_cache is not None or by_total_reasoning is not None else COUNTS_REPORTED

    def decide(by_total: bool | None, documented: bool | None, possible: bool, present: bool) -> bool:
        nonlocal basis
        if not present:
            return True
        if by_total is not None:
            return by_total
        if documented is not None and (possible or not documented):
            return documented
        basis = COUNTS_INFERRED
        return possible

    cache_in_input = decide(by_total_cache, rule.cache_in_input, reported_input >= cache, cache > 0)
    reasoning_in_output = decide(by_total_reasoning, rule.reasoning_in_output, output >= reasoning, reasoning > 0)
    return TokenCounts(
        input=reported_input - cache if cache_in_input else reported_input,
        cache_read=read,
        cache_write=write,
        output=output if reasoning_in_output else output + reasoning,
        reasoning=reasoning,
    ), basis


def with_modalities(span: SpanView, counts: TokenCounts, parts: Mapping[str, int | None]) -> TokenCounts:
    """``counts`` with its modality parts (``input_audio`` ... see ``TokenCounts``); a part larger
    than its whole cannot be priced and rejects the span."""
    present = {name: value for name, value in parts.items() if value}
    if not present:
        return counts
    counts = dataclasses.replace(counts, **present)
    for name, value in present.items():
        whole = name.split("_", 1)[0] if not name.startswith("cache_read") else "cache_read"
        if value > getattr(counts, whole):
            raise InvalidSpan(
                f"span {span.span_id}: {name} ({value}) is larger than its {whole} tokens ({getattr(counts, whole)})"
            )
    return counts


def otel_rule_counts(usage: ReportedUsage) -> TokenCounts:
    """Counts normalized under the OTel GenAI rule (input includes cache, output includes
    reasoning), checked against the total; see ``normalize_counts``."""
    return normalize_counts(usage)[0]
