"""Token counts with tiktoken, for spans that carry text but no usage and for estimates.

OpenAI models are counted with their own encoding. Every other model is counted with
``o200k_base`` and flagged ``approximate``: their tokenizers are not public in tiktoken, and
a count of the right order of magnitude is better than none.

Encodings are loaded once per process. tiktoken itself reads ``TIKTOKEN_CACHE_DIR`` for
offline use; nothing here knows where the files are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken
import tiktoken.model

from costwatch.pricing.matching import candidate_names

APPROXIMATION = "o200k_base"

# Checked before tiktoken's own table so that these families are right even with an older
# tiktoken that does not know them yet.
_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|codex-mini)(?:[-.].*)?$"), "o200k_base"),
    (re.compile(r"^(?:gpt-4|gpt-3\.5|gpt-35)(?:-.*)?$"), "cl100k_base"),
    (re.compile(r"^(?:text-embedding-3-(?:small|large)|text-embedding-ada-002)$"), "cl100k_base"),
    (re.compile(r"^(?:text-davinci-00[23]|code-.+)$"), "p50k_base"),
)

# Chat framing per the OpenAI cookbook ("How to count tokens with tiktoken").
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


@dataclass(frozen=True)
class TokenEstimate:
    tokens: int
    encoding: str
    approximate: bool


def _known_encoding(name: str) -> str | None:
    for pattern, encoding in _FAMILIES:
        if pattern.match(name):
            return encoding
    try:
        return tiktoken.model.encoding_name_for_model(name)
    except KeyError:
        return None


def encoding_name_for(model: str) -> tuple[str, bool]:
    """``(encoding name, approximate)`` for a model, trying its normalized names in order."""
    for name in candidate_names(model):
        encoding = _known_encoding(name)
        if encoding is not None:
            return encoding, False
    return APPROXIMATION, True


@functools.cache
def _encoding(name: str) -> tiktoken.Encoding:
    return tiktoken.get_encoding(name)


def _count(encoding: tiktoken.Encoding, text: str) -> int:
    # Special-token text such as "<|endoftext|>" in user content is ordinary text to the API.
    return len(encoding.encode_ordinary(text))


def count_text(model: str, text: str) -> TokenEstimate:
    name, approximate = encoding_name_for(model)
    return TokenEstimate(_count(_encoding(name), text), name, approximate)


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, Sequence):
        return []
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping) and part.get("type") in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return texts


def count_messages(model: str, messages: Sequence[Mapping[str, Any]]) -> TokenEstimate:
    """Prompt tokens of a chat request: the text of every message plus the chat framing.

    Each message costs 3 tokens of framing, a ``name`` 1 more, and the reply priming 3.
    ``content`` may be a string or a list of parts; only text parts count (images, audio and
    tool payloads are priced by other rules and are ignored here). Other string fields
    (``role``, ``name``) are counted as the cookbook does.
    """
    name, approximate = encoding_name_for(model)
    encoding = _encoding(name)
    tokens = _REPLY_PRIMING
    for message in messages:
        tokens += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                tokens += sum(_count(encoding, text) for text in _content_texts(value))
            elif isinstance(value, str):
                tokens += _count(encoding, value)
                if key == "name":
                    tokens += _TOKENS_PER_NAME
    return TokenEstimate(tokens, name, approximate)
