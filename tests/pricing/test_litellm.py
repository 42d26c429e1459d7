from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.litellm import LiteLLMImport, parse_litellm

D = Decimal
FROM = date(2025, 11, 1)

# The shape of LiteLLM's model_prices_and_context_window.json, numbers as the file writes them.
SAMPLE_JSON = """
{
  "sample_spec": {
    "input_cost_per_token": 0.0,
    "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
    "max_input_tokens": "max input tokens, if the provider specifies it",
    "mode": "one of: chat, embedding, completion, image_generation, ...",
    "output_cost_per_token": 0.0
  },
  "gpt-4o": {
    "cache_read_input_token_cost": 1.25e-06,
    "input_cost_per_token": 2.5e-06,
    "input_cost_per_token_batches": 1.25e-06,
    "litellm_provider": "openai",
    "max_input_tokens": 128000,
    "max_output_tokens": 16384,
    "max_tokens": 16384,
    "mode": "chat",
    "output_cost_per_token": 1e-05,
    "output_cost_per_token_batches": 5e-06,
    "supports_prompt_caching": true
  },
  "azure/gpt-4o": {
    "input_cost_per_token": 2.75e-06,
    "litellm_provider": "azure",
    "mode": "chat",
    "output_cost_per_token": 1.1e-05
  },
  "claude-sonnet-4-20250514": {
    "cache_creation_input_token_cost": 3.75e-06,
    "cache_creation_input_token_cost_above_1hr": 6e-06,
    "cache_creation_input_token_cost_above_200k_tokens": 7.5e-06,
    "cache_read_input_token_cost": 3e-07,
    "cache_read_input_token_cost_above_200k_tokens": 6e-07,
    "input_cost_per_token": 3e-06,
    "input_cost_per_token_above_200k_tokens": 6e-06,
    "litellm_provider": "anthropic",
    "max_input_tokens": 1000000,
    "max_output_tokens": 64000,
    "mode": "chat",
    "output_cost_per_token": 1.5e-05,
    "output_cost_per_token_above_200k_tokens": 2.25e-05
  },
  "gemini/gemini-1.5-pro": {
    "input_cost_per_token": 1.25e-06,
    "input_cost_per_token_above_128k_tokens": 2.5e-06,
    "litellm_provider": "gemini",
    "max_input_tokens": 2097152,
    "max_output_tokens": 8192,
    "mode": "chat",
    "output_cost_per_token": 5e-06,
    "output_cost_per_token_above_128k_tokens": 1e-05
  },
  "vertex_ai/claude-3-5-sonnet@20240620": {
    "input_cost_per_token": 3e-06,
    "litellm_provider": "vertex_ai-anthropic_models",
    "mode": "chat",
    "output_cost_per_token": 1.5e-05
  },
  "us.anthropic.claude-3-5-haiku-20241022-v1:0": {
    "input_cost_per_token": 8e-07,
    "litellm_provider": "bedrock",
    "mode": "chat",
    "output_cost_per_token": 4e-06
  },
  "deepseek/deepseek-chat": {
    "cache_read_input_token_cost": 2.8e-08,
    "input_cost_per_token": 2.8e-07,
    "litellm_provider": "deepseek",
    "mode": "chat",
    "output_cost_per_token": 4.2e-07
  },
  "openrouter/anthropic/claude-3.5-sonnet": {
    "input_cost_per_token": 3e-06,
    "litellm_provider": "openrouter",
    "mode": "chat",
    "output_cost_per_token": 1.5e-05
  },
  "text-embedding-3-small": {
    "input_cost_per_token": 2e-08,
    "litellm_provider": "openai",
    "max_input_tokens": 8191,
    "mode": "embedding",
    "output_cost_per_token": 0.0
  },
  "mistral/mistral-embed": {
    "input_cost_per_token": 1e-07,
    "litellm_provider": "mistral",
    "mode": "embedding"
  },
  "dall-e-3": {
    "litellm_provider": "openai",
    "mode": "image_generation",
    "output_cost_per_image": 0.04
  },
  "whisper-1": {
    "input_cost_per_second": 0.0001,
    "litellm_provider": "openai",
    "mode": "audio_transcription",
    "output_cost_per_second": 0.0
  },
  "broken-negative": {
    "input_cost_per_token": -1e-06,
    "litellm_provider": "openai",
    "mode": "chat",
    "output_cost_per_token": 1e-06
  },
  "broken-nan": {
    "input_cost_per_token": NaN,
    "litellm_provider": "openai",
    "mode": "chat",
    "output_cost_per_token": 1e-06
  },
  "broken-text": {
    "input_cost_per_token": "cheap",
    "litellm_provider": "openai",
    "mode": "chat",
    "output_cost_per_token": 1e-06
  },
  "broken-no-input": {
    "litellm_provider": "openai",
    "mode": "chat",
    "output_cost_per_token": 1e-06
  },
  "broken-no-output": {
    "input_cost_per_token": 1e-06,
    "litellm_provider": "openai",
    "mode": "chat"
  },
  "broken-no-provider": {
    "input_cost_per_token": 1e-06,
    "mode": "chat",
    "output_cost_per_token": 1e-06
  },
  "broken-not-an-object": 42,
  "broken-two-tiers": {
    "input_cost_per_token": 1e-06,
    "input_cost_per_token_above_128k_tokens": 2e-06,
    "input_cost_per_token_above_200k_tokens": 3e-06,
    "litellm_provider": "gemini",
    "mode": "chat",
    "output_cost_per_token": 1e-06
  },
  "no-mode-given": {
    "input_cost_per_token": 1e-06,
    "litellm_provider": "openai",
    "output_cost_per_token": 2e-06,
    "max_input_tokens": true
  }
}
"""


def parse(data: Any = None) -> LiteLLMImport:
    if data is None:
        data = json.loads(SAMPLE_JSON)
    return parse_litellm(
        data, effective_from=FROM, checked_on=date(2025, 11, 2), source_url="https://example.com/p.json"
    )


def by_model(result: LiteLLMImport) -> dict[str, PriceRow]:
    return {row.model: row for row in result.rows}


def test_prices_become_exact_decimals_per_million() -> None:
    gpt = by_model(parse())["gpt-4o"]
    assert gpt.provider == "openai"
    assert gpt.input == D("2.5") and str(gpt.input) == "2.5"
    assert gpt.output == D("10") and str(gpt.output) == "10"
    assert gpt.cache_read == D("1.25")
    assert gpt.cache_write is None
    assert gpt.context_window == 128000
    assert gpt.max_output_tokens == 16384
    assert gpt.effective_from == FROM
    assert gpt.checked_on == date(2025, 11, 2)
    assert gpt.source_url == "https://example.com/p.json"


def test_small_prices_survive_the_float_notation() -> None:
    rows = by_model(parse())
    assert str(rows["deepseek-chat"].cache_read) == "0.028"
    assert str(rows["text-embedding-3-small"].input) == "0.02"


def test_batch_prices_become_a_discount() -> None:
    assert by_model(parse())["gpt-4o"].batch_discount == D("0.5")


def test_cache_and_long_context_fields() -> None:
    sonnet = by_model(parse())["claude-sonnet-4-20250514"]
    assert (sonnet.cache_write, sonnet.cache_write_1h, sonnet.cache_read) == (D("3.75"), D("6"), D("0.3"))
    assert sonnet.long_context_threshold == 200_000
    assert (sonnet.long_input, sonnet.long_output) == (D("6"), D("22.5"))
    assert (sonnet.long_cache_read, sonnet.long_cache_write) == (D("0.6"), D("7.5"))


def test_128k_long_context_tier() -> None:
    gemini = by_model(parse())["gemini-1.5-pro"]
    assert gemini.provider == "google"
    assert gemini.long_context_threshold == 128_000
    assert (gemini.long_input, gemini.long_output) == (D("2.5"), D("10"))


def test_leading_provider_segment_is_dropped_only_when_it_is_the_provider() -> None:
    rows = by_model(parse())
    assert rows["deepseek-chat"].provider == "deepseek"
    assert rows["claude-3-5-sonnet@20240620"].provider == "google"
    assert rows["anthropic/claude-3.5-sonnet"].provider == "openrouter"
    assert rows["us.anthropic.claude-3-5-haiku-20241022-v1:0"].provider == "amazon"
    assert rows["mistral-embed"].provider == "mistral"


def test_embeddings_without_output_price_cost_nothing_for_output() -> None:
    assert by_model(parse())["mistral-embed"].output == 0


def test_entry_without_mode_is_priced_as_chat_and_bad_limits_are_dropped() -> None:
    row = by_model(parse())["no-mode-given"]
    assert row.input == 1 and row.output == 2
    assert row.context_window is None


def test_sample_spec_is_ignored() -> None:
    result = parse()
    assert "sample_spec" not in by_model(result)
    assert all(name != "sample_spec" for name, _ in result.skipped)


def test_bad_and_unpriceable_entries_are_skipped_with_a_reason() -> None:
    skipped = dict(parse().skipped)
    assert "not priced per token" in skipped["dall-e-3"]
    assert "not priced per token" in skipped["whisper-1"]
    assert "negative" in skipped["broken-negative"]
    assert "not finite" in skipped["broken-nan"]
    assert "not a number" in skipped["broken-text"]
    assert "input_cost_per_token" in skipped["broken-no-input"]
    assert "output_cost_per_token" in skipped["broken-no-output"]
    assert "litellm_provider" in skipped["broken-no-provider"]
    assert "not an object" in skipped["broken-not-an-object"]
    assert "long-context tier" in skipped["broken-two-tiers"]


def test_provider_own_entry_wins_over_a_reseller_with_the_same_key() -> None:
    result = parse()
    assert by_model(result)["gpt-4o"].input == D("2.5")
    assert [row.model for row in result.rows].count("gpt-4o") == 1
    assert "same provider and model" in dict(result.skipped)["azure/gpt-4o"]


def test_reseller_first_then_provider_entry_still_keeps_the_provider_price() -> None:
    data = {
        "azure/gpt-4o": {
            "input_cost_per_token": 2.75e-06,
            "output_cost_per_token": 1.1e-05,
            "litellm_provider": "azure",
        },
        "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "litellm_provider": "openai"},
    }
    result = parse(data)
    assert [(row.model, row.input) for row in result.rows] == [("gpt-4o", D("2.5"))]
    assert dict(result.skipped)["azure/gpt-4o"].startswith("same provider and model")


def test_every_entry_is_either_a_row_or_skipped() -> None:
    data = json.loads(SAMPLE_JSON)
    result = parse(data)
    assert len(result.rows) + len(result.skipped) == len(data) - 1


def test_empty_file_gives_nothing() -> None:
    assert parse({}) == LiteLLMImport(rows=[], skipped=[])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
fields = st.sampled_from(
    [
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "cache_creation_input_token_cost_above_1hr",
        "input_cost_per_token_above_200k_tokens",
        "input_cost_per_token_batches",
        "output_cost_per_token_batches",
        "max_input_tokens",
        "max_output_tokens",
        "mode",
        "litellm_provider",
    ]
)


entries = st.dictionaries(fields, json_values, max_size=8) | json_values


@given(st.dictionaries(st.text(max_size=20), entries, max_size=5))
def test_arbitrary_entries_never_crash_the_import(data: dict[str, Any]) -> None:
    result = parse(data)
    assert len(result.rows) + len(result.skipped) == len([key for key in data if key != "sample_spec"])
    for row in result.rows:
        assert row.input >= 0 and row.output >= 0


def test_batch_discount_needs_the_same_clean_fraction_on_both_sides() -> None:
    def entry(batch_in: float, batch_out: float) -> dict[str, Any]:
        return {
            "m": {
                "input_cost_per_token": 3e-06,
                "output_cost_per_token": 1.5e-05,
                "input_cost_per_token_batches": batch_in,
                "output_cost_per_token_batches": batch_out,
                "litellm_provider": "anthropic",
            }
        }

    assert parse(entry(1.5e-06, 7.5e-06)).rows[0].batch_discount == D("0.5")
    assert parse(entry(2e-06, 1e-05)).rows[0].batch_discount is None  # 1/3 off is not exact
    assert parse(entry(1.5e-06, 1.5e-05)).rows[0].batch_discount is None  # only input discounted
    assert parse(entry(3e-06, 1.5e-05)).rows[0].batch_discount is None  # no discount at all
