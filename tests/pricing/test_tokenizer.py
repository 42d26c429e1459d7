from __future__ import annotations

import pytest

from costwatch.pricing import tokenizer
from costwatch.pricing.tokenizer import (
    TokenEstimate,
    count_messages,
    count_text,
    encoding_name_for,
)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", ("o200k_base", False)),
        ("gpt-4o-mini-2024-07-18", ("o200k_base", False)),
        ("chatgpt-4o-latest", ("o200k_base", False)),
        ("gpt-4.1-nano", ("o200k_base", False)),
        ("gpt-4.5-preview", ("o200k_base", False)),
        ("gpt-5", ("o200k_base", False)),
        ("gpt-5-mini", ("o200k_base", False)),
        ("gpt-5.1-codex", ("o200k_base", False)),
        ("o1", ("o200k_base", False)),
        ("o1-mini", ("o200k_base", False)),
        ("o3", ("o200k_base", False)),
        ("o4-mini", ("o200k_base", False)),
        ("gpt-4", ("cl100k_base", False)),
        ("gpt-4-0613", ("cl100k_base", False)),
        ("gpt-4-turbo", ("cl100k_base", False)),
        ("gpt-4-1106-preview", ("cl100k_base", False)),
        ("gpt-3.5-turbo", ("cl100k_base", False)),
        ("gpt-35-turbo", ("cl100k_base", False)),
        ("text-embedding-3-small", ("cl100k_base", False)),
        ("text-embedding-3-large", ("cl100k_base", False)),
        ("text-embedding-ada-002", ("cl100k_base", False)),
        ("text-davinci-003", ("p50k_base", False)),
        ("text-davinci-002", ("p50k_base", False)),
        ("code-davinci-002", ("p50k_base", False)),
        ("openai/gpt-4o", ("o200k_base", False)),
        ("azure/gpt-35-turbo-0125", ("cl100k_base", False)),
        ("openrouter/openai/gpt-4.1", ("o200k_base", False)),
        ("claude-3-5-sonnet-20241022", ("o200k_base", True)),
        ("gemini-2.5-pro", ("o200k_base", True)),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", ("o200k_base", True)),
        ("", ("o200k_base", True)),
    ],
)
def test_encoding_name_for(model: str, expected: tuple[str, bool]) -> None:
    assert encoding_name_for(model) == expected


def test_tiktoken_model_table_is_used_for_models_we_do_not_list() -> None:
    assert encoding_name_for("davinci-002") == ("cl100k_base", False)


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o"])
def test_hello_world_is_two_tokens(model: str) -> None:
    assert count_text(model, "hello world").tokens == 2


def test_count_text_reports_encoding_and_approximation() -> None:
    assert count_text("gpt-4", "hello world") == TokenEstimate(2, "cl100k_base", False)
    assert count_text("claude-sonnet-4", "hello world") == TokenEstimate(2, "o200k_base", True)


def test_empty_text_is_zero_tokens() -> None:
    assert count_text("gpt-4o", "").tokens == 0


def test_special_token_text_counts_as_ordinary_text() -> None:
    assert count_text("gpt-4o", "<|endoftext|>").tokens > 1


def test_message_overhead_follows_the_cookbook() -> None:
    # 3 framing + "user" (1) + "hello world" (2), then 3 for the reply priming.
    estimate = count_messages("gpt-4o", [{"role": "user", "content": "hello world"}])
    assert estimate == TokenEstimate(9, "o200k_base", False)


def test_name_costs_one_more_token_plus_its_text() -> None:
    plain = count_messages("gpt-4", [{"role": "user", "content": "hi"}]).tokens
    named = count_messages("gpt-4", [{"role": "user", "content": "hi", "name": "bob"}]).tokens
    assert named == plain + 1 + count_text("gpt-4", "bob").tokens


def test_every_message_adds_its_framing() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "hi"},
    ]
    expected = 3 + sum(
        3 + count_text("gpt-4o", m["role"]).tokens + count_text("gpt-4o", m["content"]).tokens for m in messages
    )
    assert count_messages("gpt-4o", messages).tokens == expected


def test_content_parts_count_only_their_text() -> None:
    as_parts = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hello world"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                {"type": "text", "text": "again"},
            ],
        }
    ]
    as_strings = 3 + 3 + 1 + count_text("gpt-4o", "hello world").tokens + count_text("gpt-4o", "again").tokens
    assert count_messages("gpt-4o", as_parts).tokens == as_strings


def test_missing_or_null_content_and_non_text_fields_are_ignored() -> None:
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function"}]},
        {"role": "user"},
    ]
    assert count_messages("gpt-4o", messages).tokens == 3 + (3 + 1) + (3 + 1)


def test_no_messages_is_just_the_reply_priming() -> None:
    assert count_messages("gpt-4o", []).tokens == 3


def test_messages_for_other_vendors_are_approximate() -> None:
    estimate = count_messages("gemini-2.5-flash", [{"role": "user", "content": "hello world"}])
    assert estimate.approximate and estimate.encoding == "o200k_base"


def test_encoders_are_loaded_once_and_reused() -> None:
    tokenizer._encoding.cache_clear()
    count_text("gpt-4o", "one")
    count_text("gpt-4o-mini", "two")
    count_messages("o3", [{"role": "user", "content": "three"}])
    info = tokenizer._encoding.cache_info()
    assert info.misses == 1
    assert info.hits == 2
