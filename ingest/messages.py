"""Prompt and completion text carried by a span, for token estimation when usage is missing.

Here are the shapes every instrumentation shares (``content_text``, JSON message lists,
attributes indexed ``prefix.N.field``) and the formats of the OpenTelemetry GenAI conventions,
which spans of any dialect may carry. Each dialect lists the formats its spans use, in order, as
``message_formats`` (``ingest/dialects/``); ``read_messages`` takes the first format that has a
prompt and the first that has a completion, so the same text is never counted twice.
``ingest.mapping`` counts the text with a ``TokenEstimator`` (tiktoken unless a caller passes
another).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from costwatch.pricing.cost import TokenCounts
from ingest.canonical import SpanView

_PROMPT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


@dataclass(frozen=True)
class MessageText:
    """The prompt as chat messages (``{"role", "content"}``) and the completion as plain text."""

    prompt: list[dict[str, str]] = field(default_factory=list)
    completion: str = ""


@dataclass(frozen=True)
class MessageFormat:
    """One way of carrying message text: a reader for the prompt and one for the completion,
    each returning an empty list / string when the span does not use this format."""

    prompt: Callable[[SpanView], list[dict[str, str]]]
    completion: Callable[[SpanView], str]


def read_messages(span: SpanView, formats: Sequence[MessageFormat]) -> MessageText:
    """The span's prompt and completion, each from the first of ``formats`` that has it."""
    prompt: list[dict[str, str]] = []
    for message_format in formats:
        prompt = message_format.prompt(span)
        if prompt:
            break
    completion = ""
    for message_format in formats:
        completion = message_format.completion(span)
        if completion:
            break
    return MessageText(prompt=prompt, completion=completion)


class TokenEstimator(Protocol):
    """Counts a call's tokens from its message text: input from the prompt, output from the completion."""

    def __call__(self, model: str | None, text: MessageText) -> TokenCounts: ...


def estimate_with_tiktoken(model: str | None, text: MessageText) -> TokenCounts:
    """Tokens counted with tiktoken (``costwatch.pricing.tokenizer``), chat framing included."""
    from costwatch.pricing.tokenizer import count_messages, count_text

    input_tokens = count_messages(model or "", text.prompt).tokens if text.prompt else 0
    output_tokens = count_text(model or "", text.completion).tokens if text.completion else 0
    return TokenCounts(input=input_tokens, output=output_tokens)


def content_text(value: Any) -> str:
    """Plain text of a message content in any of the shapes instrumentations use."""
    if value is None:
        return ""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return value
            if isinstance(parsed, (list, dict)):
                return content_text(parsed) or value
        return value
    if isinstance(value, list):
        return "\n".join(t for t in (content_text(part) for part in value) if t)
    if isinstance(value, Mapping):
        if value.get("type") not in (None, "text", "input_text", "output_text"):
            return ""
        for key in ("text", "content", "parts"):
            if key in value:
                return content_text(value[key])
        return ""
    return ""


def chat_message(role: Any, content: Any) -> dict[str, str] | None:
    """``{"role", "content"}`` with the content as plain text (role "user" when missing); None without text."""
    text = content_text(content)
    if not text:
        return None
    return {"role": role if isinstance(role, str) and role else "user", "content": text}


def messages_from_json(value: Any) -> list[dict[str, str]]:
    """Chat messages from a JSON list (or one object) of ``{role, parts | content | text}``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, Mapping):
            content = item.get("parts", item.get("content", item.get("text")))
            message = chat_message(item.get("role"), content)
            if message:
                out.append(message)
    return out


def indexed(span: SpanView, prefix: str) -> dict[int, dict[str, Any]]:
    """Attributes flattened as ``prefix.N.rest`` grouped by N."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)$")
    groups: dict[int, dict[str, Any]] = {}
    for key, value in span.attributes.items():
        match = pattern.match(key)
        if match:
            groups.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return dict(sorted(groups.items()))


def from_indexed(groups: Mapping[int, Mapping[str, Any]], role_key: str, content_key: str) -> list[dict[str, str]]:
    """Chat messages from ``indexed`` groups, reading each group's role and content fields."""
    out = []
    for fields in groups.values():
        message = chat_message(fields.get(role_key), fields.get(content_key))
        if message:
            out.append(message)
    return out


def join_texts(texts: Iterable[str]) -> str:
    return "\n".join(t for t in texts if t)


# --- The OpenTelemetry GenAI conventions' formats -------------------------------------------


def _otel_prompt(span: SpanView) -> list[dict[str, str]]:
    system = messages_from_json(span.attributes.get("gen_ai.system_instructions"))
    messages = messages_from_json(span.attributes.get("gen_ai.input.messages"))
    if system and messages:
        system = [{"role": "system", "content": "\n".join(m["content"] for m in system)}]
    return system + messages if messages else []


def _otel_completion(span: SpanView) -> str:
    return join_texts(m["content"] for m in messages_from_json(span.attributes.get("gen_ai.output.messages")))


def _indexed_prompt(span: SpanView) -> list[dict[str, str]]:
    return from_indexed(indexed(span, "gen_ai.prompt"), "role", "content")


def _indexed_completion(span: SpanView) -> str:
    return join_texts(m["content"] for m in from_indexed(indexed(span, "gen_ai.completion"), "role", "content"))


def _event_prompt(span: SpanView) -> list[dict[str, str]]:
    out = []
    for name, attrs in span.events:
        if name in _PROMPT_EVENTS:
            message = chat_message(attrs.get("role") or _PROMPT_EVENTS[name], attrs.get("content"))
            if message:
                out.append(message)
        elif name == "gen_ai.content.prompt":
            out.extend(messages_from_json(attrs.get("gen_ai.prompt")))
    return out


def _event_completion(span: SpanView) -> str:
    texts = []
    for name, attrs in span.events:
        if name == "gen_ai.choice":
            message = attrs.get("message")
            if isinstance(message, str):
                try:
                    message = json.loads(message)
                except ValueError:
                    pass
            if isinstance(message, Mapping):
                texts.append(content_text(message.get("content")))
            else:
                texts.append(content_text(attrs.get("content", message)))
        elif name == "gen_ai.content.completion":
            texts.extend(m["content"] for m in messages_from_json(attrs.get("gen_ai.completion")))
    return join_texts(texts)


# ``gen_ai.system_instructions`` + ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON).
GEN_AI_MESSAGES = MessageFormat(_otel_prompt, _otel_completion)
# ``gen_ai.prompt.N.role`` / ``.content`` and ``gen_ai.completion.N.*``: the form before the
# conventions had message attributes, still written by OpenLLMetry and others.
GEN_AI_INDEXED = MessageFormat(_indexed_prompt, _indexed_completion)
# Span events: ``gen_ai.{system,user,assistant,tool}.message``, ``gen_ai.choice``, and the older
# ``gen_ai.content.prompt`` / ``gen_ai.content.completion``.
GEN_AI_EVENTS = MessageFormat(_event_prompt, _event_completion)
