"""What a dialect is, and the reading and normalizing helpers every dialect shares."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from costwatch.pricing.cost import TokenCounts
from ingest.canonical import LlmCall, SpanView
from ingest.messages import extract_messages

MAX_TOKENS = 10**9
MAX_COST = Decimal(10**6)
_DIGITS = re.compile(r"\+?\d+")


class InvalidSpan(Exception):
    """The span is an LLM call but its data cannot be trusted; it is rejected alone."""


class Dialect(Protocol):
    name: str
    # Attribution keys this dialect's instrumentations put on their spans (LLM or not).
    user_keys: tuple[str, ...]
    feature_keys: tuple[str, ...]
    session_keys: tuple[str, ...]

    def claims(self, span: SpanView) -> bool: ...

    def to_call(self, span: SpanView) -> LlmCall: ...


@dataclass(frozen=True)
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
        return any(v is not None for v in (self.input, self.output, self.cache_read, self.cache_write))


def read_tokens(span: SpanView, *names: str) -> int | None:
    """The first of ``names`` present on the span, as a validated token count."""
    for name in names:
        if name in span.attributes:
            return token_count(span, name, span.attributes[name])
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
        if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
            count = int(text)
        elif _DIGITS.fullmatch(text):
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


def is_truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False


def lower_or_none(value: str | None) -> str | None:
    return value.lower() if value else None


def estimate_tokens(model: str | None, span: SpanView) -> TokenCounts | None:
    """Tokens counted with tiktoken from the span's message text, or None without any text."""
    text = extract_messages(span)
    if not text.prompt and not text.completion:
        return None
    from costwatch.pricing.tokenizer import count_messages, count_text

    input_tokens = count_messages(model or "", text.prompt).tokens if text.prompt else 0
    output_tokens = count_text(model or "", text.completion).tokens if text.completion else 0
    return TokenCounts(input=input_tokens, output=output_tokens)


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


def usage_or_estimate(
    span: SpanView, usage: ReportedUsage, normalized: TokenCounts, model: str | None
) -> tuple[TokenCounts, str]:
    """The counts and their usage state: ``reported`` (the span's usage, normalized), else
    ``estimated`` (tiktoken over the span's message text), else ``unknown`` (zero counts that
    must never be priced as $0: a stream without ``include_usage``, or content capture off).
    """
    if usage.any:
        return normalized, USAGE_REPORTED
    estimate = estimate_tokens(model, span)
    if estimate is None:
        return normalized, USAGE_UNKNOWN
    return estimate, USAGE_ESTIMATED


def otel_rule_counts(usage: ReportedUsage) -> TokenCounts:
    """Counts normalized under the OTel GenAI rule: input includes cache, output includes reasoning."""
    cache_read = usage.cache_read or 0
    cache_write = usage.cache_write or 0
    reported_input = usage.input or 0
    reasoning = usage.reasoning or 0
    return TokenCounts(
        input=exclusive_input(reported_input, cache_read, cache_write),
        cache_read=cache_read,
        cache_write=cache_write,
        output=output_with_reasoning(usage.output or 0, reasoning, reported_input, usage.total),
        reasoning=reasoning,
    )
