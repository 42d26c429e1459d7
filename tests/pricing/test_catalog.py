from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from costwatch.pricing.catalog import (
    catalog_patterns,
    load_default_catalog,
    rows_from_json,
)
from costwatch.pricing.cost import PriceRow, TokenCounts, cost_of, price_in_force
from costwatch.pricing.matching import ModelMatch, match_model
from costwatch.pricing.tokenizer import encoding_name_for

D = Decimal
ROWS = load_default_catalog()
KEYS = {row.model for row in ROWS}
PATTERNS = catalog_patterns()


def history(model: str) -> list[PriceRow]:
    return [row for row in ROWS if row.model == model]


def in_force(model: str, at: date) -> PriceRow:
    row = price_in_force(history(model), at)
    assert row is not None, f"no price for {model} on {at}"
    return row


def test_catalog_has_at_least_sixty_distinct_models() -> None:
    assert len(KEYS) >= 60


@pytest.mark.parametrize(
    ("provider", "minimum"),
    [
        ("openai", 15),
        ("anthropic", 10),
        ("google", 7),
        ("mistral", 4),
        ("deepseek", 2),
        ("xai", 3),
        ("cohere", 3),
        ("amazon", 4),
    ],
)
def test_every_mainstream_provider_is_covered(provider: str, minimum: int) -> None:
    assert len({row.model for row in ROWS if row.provider == provider}) >= minimum


def test_every_row_names_its_source_and_when_it_was_checked() -> None:
    for row in ROWS:
        assert row.source_url.startswith("https://"), row.model
        assert row.checked_on is not None and row.checked_on >= row.effective_from, row.model
        assert row.currency == "USD"


def test_effective_ranges_never_overlap_per_provider_and_model() -> None:
    groups: dict[tuple[str, str], list[PriceRow]] = defaultdict(list)
    for row in ROWS:
        groups[(row.provider, row.model)].append(row)
    for key, rows in groups.items():
        rows.sort(key=lambda row: row.effective_from)
        for earlier, later in zip(rows, rows[1:]):
            assert earlier.effective_until is not None, key
            assert earlier.effective_until <= later.effective_from, key


def test_keys_are_lower_case_and_unique_per_provider() -> None:
    providers: dict[str, set[str]] = defaultdict(set)
    for row in ROWS:
        assert row.model == row.model.lower().strip()
        providers[row.model].add(row.provider)
    assert all(len(names) == 1 for names in providers.values())


def test_every_key_matches_itself_exactly() -> None:
    for key in KEYS:
        assert match_model(key, KEYS, patterns=PATTERNS) == ModelMatch(key, "exact")


def test_every_openai_chat_model_maps_to_a_tiktoken_encoding() -> None:
    for row in ROWS:
        if row.provider == "openai" and not row.model.startswith("text-embedding"):
            encoding, approximate = encoding_name_for(row.model)
            assert not approximate, row.model
            assert encoding in {"o200k_base", "cl100k_base"}, row.model


def test_patterns_compile_and_point_at_catalog_keys() -> None:
    assert PATTERNS
    for pattern, key in PATTERNS:
        re.compile(pattern)
        assert key in KEYS, key


def test_historical_gpt_4o_price_depends_on_the_date() -> None:
    before = in_force("gpt-4o", date(2024, 6, 1))
    after = in_force("gpt-4o", date(2025, 1, 1))
    assert (before.input, before.output) == (D(5), D(15))
    assert (after.input, after.output, after.cache_read) == (D("2.5"), D(10), D("1.25"))


def test_gpt_4o_may_2024_snapshot_keeps_its_own_price() -> None:
    match = match_model("gpt-4o-2024-05-13", KEYS, patterns=PATTERNS)
    assert match == ModelMatch("gpt-4o-2024-05-13", "exact")
    assert in_force("gpt-4o-2024-05-13", date(2025, 6, 1)).input == D(5)
    assert match_model("gpt-4o-2024-08-06", KEYS, patterns=PATTERNS) == ModelMatch("gpt-4o", "normalized")


def test_o3_price_cut_on_2025_06_10() -> None:
    assert (in_force("o3", date(2025, 6, 9)).input, in_force("o3", date(2025, 6, 9)).output) == (D(10), D(40))
    assert (in_force("o3", date(2025, 6, 10)).input, in_force("o3", date(2025, 6, 10)).output) == (D(2), D(8))


def test_claude_3_5_haiku_price_cut() -> None:
    assert in_force("claude-3-5-haiku", date(2024, 11, 20)).input == D(1)
    assert in_force("claude-3-5-haiku", date(2025, 1, 1)).input == D("0.8")


def test_gemini_1_5_price_cuts() -> None:
    assert in_force("gemini-1.5-pro", date(2024, 9, 30)).input == D("3.5")
    assert in_force("gemini-1.5-pro", date(2024, 10, 1)).input == D("1.25")
    assert in_force("gemini-1.5-flash", date(2024, 8, 1)).input == D("0.35")
    assert in_force("gemini-1.5-flash", date(2024, 10, 1)).input == D("0.075")


def test_deepseek_prices_follow_their_changes() -> None:
    assert in_force("deepseek-chat", date(2025, 1, 15)).input == D("0.14")
    assert in_force("deepseek-chat", date(2025, 3, 1)).input == D("0.27")
    assert in_force("deepseek-reasoner", date(2025, 3, 1)).cache_read == D("0.14")
    assert in_force("deepseek-chat", date(2025, 10, 1)).cache_read == D("0.028")


def test_anthropic_cache_prices_are_the_published_multiples() -> None:
    for row in ROWS:
        if row.provider != "anthropic" or row.model == "claude-3-haiku":
            continue
        assert row.cache_read == row.input * D("0.1"), row.model
        assert row.cache_write == row.input * D("1.25"), row.model
        assert row.cache_write_1h == row.input * 2, row.model
        assert row.batch_discount == D("0.5"), row.model


@pytest.mark.parametrize("model", ["claude-sonnet-4", "claude-sonnet-4-5"])
def test_sonnet_long_context_prices(model: str) -> None:
    row = in_force(model, date(2025, 11, 1))
    assert row.long_context_threshold == 200_000
    assert (row.long_input, row.long_output) == (D(6), D("22.5"))
    long_call = cost_of(TokenCounts(input=200_001, output=1_000_000), row)
    assert long_call.long_context and long_call.output == D("22.5")


def test_gemini_2_5_pro_long_context_tier() -> None:
    row = in_force("gemini-2.5-pro", date(2025, 11, 1))
    assert (row.input, row.output) == (D("1.25"), D(10))
    assert (row.long_context_threshold, row.long_input, row.long_output) == (200_000, D("2.5"), D(15))


@pytest.mark.parametrize(
    ("reported", "key"),
    [
        ("gpt-4-1106-preview", "gpt-4-turbo"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("mistral-medium-2505", "mistral-medium-3"),
        ("grok-4-fast-reasoning", "grok-4-fast"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("amazon.nova-pro-v1:0", "nova-pro"),
        ("meta.llama3-70b-instruct-v1:0", "llama3-70b-instruct"),
        ("cohere.command-r-plus-v1:0", "command-r-plus"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("command-a-03-2025", "command-a"),
        ("grok-4-0709", "grok-4"),
    ],
)
def test_real_model_ids_find_their_catalog_row(reported: str, key: str) -> None:
    match = match_model(reported, KEYS, patterns=PATTERNS)
    assert match is not None and match.key == key


def test_load_returns_a_fresh_list_each_time() -> None:
    first = load_default_catalog()
    first.clear()
    assert load_default_catalog() == ROWS


def catalog(**model_fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-x",
        "source_url": "https://example.com",
        "checked_on": "2025-01-01",
        "prices": [{"effective_from": "2024-01-01", "input": "1", "output": "2"}],
    }
    entry.update(model_fields)
    return {"models": [entry]}


def test_rows_from_json_merges_model_and_price_fields() -> None:
    data = catalog(
        context_window=1000,
        max_output_tokens=100,
        prices=[
            {
                "effective_from": "2024-01-01",
                "effective_until": "2024-06-01",
                "input": "2",
                "output": 4,
                "max_output_tokens": 50,
            },
            {"effective_from": "2024-06-01", "input": "1", "output": "2", "cache_read": "0.5"},
        ],
    )
    old, new = rows_from_json(data)
    assert (old.input, old.output, old.max_output_tokens, old.effective_until) == (D(2), D(4), 50, date(2024, 6, 1))
    assert (new.input, new.cache_read, new.max_output_tokens, new.context_window) == (D(1), D("0.5"), 100, 1000)
    assert new.checked_on == date(2025, 1, 1)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"prices": [{"effective_from": "2024-01-01", "input": "1", "ouput": "2"}]}, ValueError),
        ({"colour": "blue"}, ValueError),
        ({"prices": []}, ValueError),
        ({"prices": [{"effective_from": "2024-01-01", "input": 1.5, "output": "2"}]}, TypeError),
        ({"prices": [{"effective_from": "01/02/2024", "input": "1", "output": "2"}]}, ValueError),
        ({"checked_on": 20250101}, ValueError),
    ],
)
def test_rows_from_json_rejects_malformed_catalogs(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="gpt-x"):
        rows_from_json(catalog(**change))


def test_rows_from_json_needs_provider_and_model() -> None:
    with pytest.raises(ValueError, match="provider and model"):
        rows_from_json({"models": [{"model": "x", "prices": [{"input": "1", "output": "1"}]}]})
