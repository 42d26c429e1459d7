"""Prompt and completion text carried by a span, for token estimation when usage is missing.

Reads every format the supported instrumentations use; the first format found wins for
each side so the same text is never counted twice.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.canonical import SpanView

_PROMPT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


@dataclass(frozen=True)
class MessageText:
    prompt: list[dict[str, str]] = field(default_factory=list)
    completion: str = ""


def extract_messages(span: SpanView) -> MessageText:
    prompt: list[dict[str, str]] = []
    for reader in _PROMPT_READERS:
        prompt = reader(span)
        if prompt:
            break
    completion = ""
    for completion_reader in _COMPLETION_READERS:
        completion = completion_reader(span)
        if completion:
            break
    return MessageText(prompt=prompt, completion=completion)


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


def _message(role: Any, content: Any) -> dict[str, str] | None:
    text = content_text(content)
    if not text:
        return None
    return {"role": role if isinstance(role, str) and role else "user", "content": text}


def _messages_from_json(value: Any) -> list[dict[str, str]]:
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
            message = _message(item.get("role"), content)
            if message:
                out.append(message)
    return out


def _indexed(span: SpanView, prefix: str) -> dict[int, dict[str, Any]]:
    """Attributes flattened as ``prefix.N.rest`` grouped by N."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)$")
    groups: dict[int, dict[str, Any]] = {}
    for key, value in span.attributes.items():
        match = pattern.match(key)
        if match:
            groups.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return dict(sorted(groups.items()))


def _otel_prompt(span: SpanView) -> list[dict[str, str]]:
    system = _messages_from_json(span.attributes.get("gen_ai.system_instructions"))
    messages = _messages_from_json(span.attributes.get("gen_ai.input.messages"))
    if system and messages:
        system = [{"role": "system", "content": "\n".join(m["content"] for m in system)}]
    return system + messages if messages else []


def _otel_completion(span: SpanView) -> str:
    return _join(m["content"] for m in _messages_from_json(span.attributes.get("gen_ai.output.messages")))


def _traceloop_prompt(span: SpanView) -> list[dict[str, str]]:
    return _from_indexed(_indexed(span, "gen_ai.prompt"), "role", "content")


def _traceloop_completion(span: SpanView) -> str:
    return _join(m["content"] for m in _from_indexed(_indexed(span, "gen_ai.completion"), "role", "content"))


def _openinference_messages(span: SpanView, prefix: str) -> list[dict[str, str]]:
    out = []
    for fields in _indexed(span, prefix).values():
        content = fields.get("message.content")
        if content is None:
            parts = {k: v for k, v in fields.items() if k.startswith("message.contents.") and k.endswith(".text")}
            content = [parts[k] for k in sorted(parts, key=_part_index)]
        message = _message(fields.get("message.role"), content)
        if message:
            out.append(message)
    return out


def _part_index(key: str) -> int:
    match = re.search(r"contents\.(\d+)\.", key)
    return int(match.group(1)) if match else 0


def _openinference_prompt(span: SpanView) -> list[dict[str, str]]:
    return _openinference_messages(span, "llm.input_messages")


def _openinference_completion(span: SpanView) -> str:
    return _join(m["content"] for m in _openinference_messages(span, "llm.output_messages"))


def _vercel_prompt(span: SpanView) -> list[dict[str, str]]:
    return _messages_from_json(span.attributes.get("ai.prompt.messages"))


def _vercel_completion(span: SpanView) -> str:
    value = span.attributes.get("ai.response.text")
    return value if isinstance(value, str) else ""


def _event_prompt(span: SpanView) -> list[dict[str, str]]:
    out = []
    for name, attrs in span.events:
        if name in _PROMPT_EVENTS:
            message = _message(attrs.get("role") or _PROMPT_EVENTS[name], attrs.get("content"))
            if message:
                out.append(message)
        elif name == "gen_ai.content.prompt":
            out.extend(_messages_from_json(attrs.get("gen_ai.prompt")))
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
            texts.extend(m["content"] for m in _messages_from_json(attrs.get("gen_ai.completion")))
    return _join(texts)


def _from_indexed(groups: Mapping[int, Mapping[str, Any]], role_key: str, content_key: str) -> list[dict[str, str]]:
    out = []
    for fields in groups.values():
        message = _message(fields.get(role_key), fields.get(content_key))
        if message:
            out.append(message)
    return out


def _join(texts: Iterable[str]) -> str:
    return "\n".join(t for t in texts if t)


_PROMPT_READERS: tuple[Callable[[SpanView], list[dict[str, str]]], ...] = (
    _otel_prompt,
    _traceloop_prompt,
    _openinference_prompt,
    _vercel_prompt,
    _event_prompt,
)
_COMPLETION_READERS: tuple[Callable[[SpanView], str], ...] = (
    _otel_completion,
    _traceloop_completion,
    _openinference_completion,
    _vercel_completion,
    _event_completion,
)
