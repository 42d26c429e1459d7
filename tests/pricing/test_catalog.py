"""The default catalog: the installed genai-prices data in Costwatch's stored form.

Prices asserted here are the source's own numbers (genai-prices 0.2.3, pinned in pyproject.toml),
per 1M tokens; every case is also cross-checked against ``genai_prices.calc_price``. Pure: the
catalog is matched and priced in memory with the same matcher and row choice as ``PriceBook``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import genai_prices
import pytest

from costwatch.pricing.catalog import load_default_catalog
from costwatch.pricing.cost import PriceRow, TokenCounts, choose_price, cost_of
from costwatch.pricing.matching import CatalogMatcher, CatalogProviderRules

D = Decimal
CATALOG = load_default_catalog()
ROWS: dict[tuple[str, str], list[PriceRow]] = defaultdict(list)
for _row in [*CATALOG.rows, *CATALOG.history]:
    ROWS[(_row.provider, _row.model)].append(_row)
MATCHER = CatalogMatcher(
    [
        CatalogProviderRules(p.id, p.provider_match, p.model_match, tuple(p.fallback_providers))
        for p in CATALOG.providers
    ],
    {p.id: [(m.model, m.match) for m in CATALOG.models if m.provider == p.id] for p in CATALOG.providers},
)
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def priced(model: str, provider: str | None = None, at: datetime = AT, tier: str | None = None):  # noqa: ANN201
    match = MATCHER.match(model, provider=provider)
    assert match is not None, f"{provider}/{model} is not matched"
    choice = choose_price(ROWS[(match.provider, match.key)], at, service_tier=tier)
    assert choice is not None, f"{provider}/{model}: no price in force at {at}"
    return match, choice


# (reported provider as spans send it, reported model, catalog provider, catalog model,
#  input, output, cache read) — USD per 1M tokens, from the genai-prices data.
CURRENT = [
    ("openai", "gpt-5.1", "openai", "gpt-5.1", "1.25", "10", "0.125"),
    ("openai", "gpt-5-mini", "openai", "gpt-5-mini", "0.25", "2", "0.025"),
    ("openai", "gpt-4.1-2025-04-14", "openai", "gpt-4.1", "2", "8", "0.5"),
    ("openai", "gpt-4o-mini", "openai", "gpt-4o-mini", "0.15", "0.6", "0.075"),
    ("openai", "o3", "openai", "o3", "2", "8", "0.5"),
    ("openai", "o4-mini-2025-04-16", "openai", "o4-mini", "1.1", "4.4", "0.275"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:org-placeholder::A1b2C3d4", "openai", "ft:gpt-4o-mini", "0.3", "1.2", None),
    ("anthropic", "claude-opus-4-5-20251101", "anthropic", "claude-opus-4-5", "5", "25", "0.5"),
    ("anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5", "3", "15", "0.3"),
    ("anthropic", "claude-haiku-4-5", "anthropic", "claude-haiku-4-5", "1", "5", "0.1"),
    ("anthropic", "claude-3-5-haiku-20241022", "anthropic", "claude-3-5-haiku-latest", "0.8", "4", "0.08"),
    ("gcp.gemini", "gemini-2.5-pro", "google", "gemini-2.5-pro", "1.25", "10", "0.125"),
    ("gcp.gemini", "gemini-2.5-flash", "google", "gemini-2.5-flash", "0.3", "2.5", "0.03"),
    ("gcp.gemini", "models/gemini-2.5-flash-lite", "google", "gemini-2.5-flash-lite", "0.1", "0.4", "0.01"),
    (
        "gcp.vertex_ai",
        "publishers/google/models/gemini-3-pro-preview",
        "google",
        "gemini-3-pro-preview",
        "2",
        "12",
        "0.2",
    ),
    ("gcp.vertex_ai", "claude-sonnet-4-5@20250929", "google", "claude-sonnet-4-5", "3", "15", "0.3"),
    (
        "aws.bedrock",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "aws",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "3",
        "15",
        "0.3",
    ),
    (
        "aws.bedrock",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "aws",
        "regional.anthropic.claude-haiku-4-5-20251001-v1:0",
        "1.1",
        "5.5",
        "0.11",
    ),
    ("aws.bedrock", "amazon.nova-pro-v1:0", "aws", "amazon.nova-pro-v1:0", "0.8", "3.2", "0.2"),
    ("aws.bedrock", "amazon.nova-lite-v1:0", "aws", "amazon.nova-lite-v1:0", "0.06", "0.24", "0.015"),
    ("aws.bedrock", "meta.llama3-3-70b-instruct-v1:0", "aws", "meta.llama3-3-70b-instruct-v1:0", "0.72", "0.72", None),
    ("az.ai.openai", "gpt-4o", "openai", "gpt-4o", "2.5", "10", "1.25"),
    ("az.ai.openai", "gpt-4.1-mini", "openai", "gpt-4.1-mini", "0.4", "1.6", "0.1"),  # Azure → OpenAI fallback
    ("az.ai.openai", "o3-mini", "azure", "o3-mini", "1.1", "4.4", "0.55"),
    ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large", "2", "6", None),
    ("mistral_ai", "mistral-small-latest", "mistral", "mistral-small-latest", "0.15", "0.6", "0.015"),
    ("mistral_ai", "codestral-latest", "mistral", "codestral", "0.3", "0.9", None),
    ("xai", "grok-4", "x-ai", "grok-4-0709", "3", "15", "0.75"),
    ("xai", "grok-3-mini", "x-ai", "grok-3-mini", "0.3", "0.5", "0.075"),
    ("xai", "grok-4-fast-reasoning", "x-ai", "grok-4-fast-reasoning", "0.2", "0.5", "0.05"),
    ("deepseek", "deepseek-reasoner", "deepseek", "deepseek-reasoner", "0.55", "2.19", "0.14"),
    ("deepseek", "deepseek-chat", "deepseek", "deepseek-chat", "0.27", "1.1", "0.07"),
    ("openai", "openai/gpt-4o", "openai", "gpt-4o", "2.5", "10", "1.25"),
    (None, "openai/gpt-4o", "openrouter", "openai/gpt-4o", "2.5", "10", "1.25"),
]


@pytest.mark.parametrize(("provider", "model", "catalog_provider", "key", "input_", "output", "cache_read"), CURRENT)
def test_current_model_ids_get_the_source_prices(
    provider: str | None, model: str, catalog_provider: str, key: str, input_: str, output: str, cache_read: str | None
) -> None:
    match, choice = priced(model, provider)
    assert (match.provider, match.key) == (catalog_provider, key)
    row = choice.row
    assert (row.input, row.output) == (D(input_), D(output))
    assert row.cache_read == (None if cache_read is None else D(cache_read))
    assert not choice.approximate


@pytest.mark.parametrize(("provider", "model", "catalog_provider", "key"), [case[:4] for case in CURRENT])
def test_cost_equals_genai_prices_own_calculation(
    provider: str | None, model: str, catalog_provider: str, key: str
) -> None:
    _, choice = priced(model, provider)
    counts = TokenCounts(input=1_000, cache_read=2_000 if choice.row.cache_read is not None else 0, output=500)
    usage = genai_prices.Usage(
        input_tokens=counts.prompt_total, cache_read_tokens=counts.cache_read or None, output_tokens=500
    )
    try:
        theirs = genai_prices.calc_price(usage, model, provider_id=catalog_provider, genai_request_timestamp=AT)
    except LookupError:  # a path genai-prices does not strip itself (models/..., publishers/.../models/...)
        last = model.rsplit("/", 1)[-1]
        theirs = genai_prices.calc_price(usage, last, provider_id=catalog_provider, genai_request_timestamp=AT)
    assert cost_of(counts, choice.row).total == theirs.total_price


def test_at_least_2000_models_of_40_providers_and_every_major_provider() -> None:
    assert len(CATALOG.models) >= 2000
    assert len(CATALOG.providers) >= 40
    providers = {m.provider for m in CATALOG.models}
    assert {"openai", "anthropic", "google", "aws", "azure", "mistral", "x-ai", "deepseek"} <= providers
    assert CATALOG.version == genai_prices.__version__


def test_gpt_4o_before_2024_10_02_costs_its_launch_price() -> None:
    _, before = priced("gpt-4o", "openai", at=datetime(2024, 9, 1, 9, tzinfo=UTC))
    _, after = priced("gpt-4o", "openai", at=datetime(2024, 10, 2, tzinfo=UTC))
    assert (before.row.input, before.row.output) == (D(5), D(15))
    assert before.row.effective_until == date(2024, 10, 2)
    assert (after.row.input, after.row.output) == (D("2.5"), D(10))
    assert cost_of(TokenCounts(input=1_000, output=1_000), before.row).total == D("0.02")


def test_dated_snapshot_with_its_own_price_keeps_it() -> None:
    match, choice = priced("gpt-4o-2024-05-13", "openai")
    assert match.key == "gpt-4o-2024-05-13" and choice.row.input == D(5)


def test_o3_price_cut_on_2025_06_10_is_two_rows() -> None:
    _, before = priced("o3", "openai", at=datetime(2025, 6, 9, tzinfo=UTC))
    _, after = priced("o3", "openai", at=datetime(2025, 6, 10, tzinfo=UTC))
    assert (before.row.input, before.row.output) == (D(10), D(40))
    assert (after.row.input, after.row.output) == (D(2), D(8))


def test_long_context_tier_of_sonnet_4_5() -> None:
    _, choice = priced("claude-sonnet-4-5", "anthropic")
    row = choice.row
    assert (row.long_context_threshold, row.long_input, row.long_output, row.long_cache_read) == (
        200_000,
        D(6),
        D("22.5"),
        D("0.6"),
    )
    assert (row.long_cache_write, row.long_cache_write_1h) == (D("7.5"), D(12))
    assert cost_of(TokenCounts(input=200_001), row).long_context


def test_anthropic_cache_writes_by_lifetime() -> None:
    _, choice = priced("claude-sonnet-4-5", "anthropic")
    assert (choice.row.cache_write, choice.row.cache_write_1h) == (D("3.75"), D(6))
    cost = cost_of(TokenCounts(input=10, cache_write_1h=20_000, output=200), choice.row)
    assert cost.total == D("0.12303") and not cost.approximate


def test_service_tier_rows_flex_priority_batch() -> None:
    _, flex = priced("o4-mini", "openai", tier="flex")
    _, priority = priced("gpt-5.1", "openai", tier="priority")
    _, batch = priced("gpt-5.1", "openai", tier="batch")
    assert (flex.row.service_tier, flex.row.input, flex.row.output) == ("flex", D("0.55"), D("2.2"))
    assert (priority.row.input, priority.row.output) == (D("2.5"), D(20))
    assert (batch.row.input, batch.row.output) == (D("0.625"), D(5))
    assert cost_of(TokenCounts(input=1_000, output=2_000), flex.row).total == D("0.00495")


def test_tier_the_source_does_not_price_falls_back_to_standard_marked_approximate() -> None:
    _, choice = priced("claude-haiku-4-5", "anthropic", tier="flex")
    assert choice.approximate and choice.row.service_tier == "standard" and "no flex price" in choice.note
    _, before = priced("gpt-5.1", "openai", at=datetime(2026, 1, 1, tzinfo=UTC), tier="priority")
    assert before.approximate and before.row.input == D("1.25")


def test_deepseek_peak_hours_are_a_daily_window() -> None:
    _, peak = priced("deepseek-chat", "deepseek", at=datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    _, off_peak = priced("deepseek-chat", "deepseek", at=datetime(2026, 11, 28, 20, 0, tzinfo=UTC))
    assert peak.row.input == D("0.27") and peak.row.daily_from is not None
    assert off_peak.row.input == D("0.135") and off_peak.row.daily_from is None


def test_modality_prices_of_a_realtime_model() -> None:
    _, choice = priced("gpt-4o-realtime-preview", "openai")
    row = choice.row
    assert (row.input, row.input_audio, row.output_audio, row.cache_read_audio) == (D(5), D(40), D(80), D("2.5"))
    cost = cost_of(TokenCounts(input=1_000, input_audio=400, output=100, output_audio=100), row)
    assert cost.total == D("0.003") + D("0.016") + D("0.008") and not cost.approximate


def test_modality_without_its_own_price_is_text_rate_and_approximate() -> None:
    _, choice = priced("gpt-4o-mini", "openai")
    cost = cost_of(TokenCounts(input=1_000, input_audio=1_000, output=0), choice.row)
    assert cost.total == D("0.00015") and cost.approximate
    assert "no input audio price" in cost.notes[0]


def test_free_models_cost_zero_by_the_source_and_unpriced_units_are_listed() -> None:
    rows = ROWS[("github-copilot", "gpt-4o")]
    assert rows and all((r.input, r.output) == (0, 0) for r in rows)
    skipped = dict(CATALOG.skipped)
    assert skipped["openai/whisper-1"].startswith("priced per audio_hours")


def test_non_token_prices_are_kept_for_display() -> None:
    _, choice = priced("gpt-4o", "openai")
    assert choice.row.other_prices["web_searches_kcount"] == D(10)


def test_effective_ranges_of_one_tier_and_window_never_overlap() -> None:
    for rows in ROWS.values():
        groups: dict[tuple[object, ...], list[PriceRow]] = defaultdict(list)
        for row in rows:
            groups[(row.service_tier, row.daily_from)].append(row)
        for group in groups.values():
            group.sort(key=lambda r: r.effective_from)
            for earlier, later in zip(group, group[1:]):
                assert earlier.effective_until is not None and earlier.effective_until <= later.effective_from


def test_unknown_model_stays_unmatched() -> None:
    assert MATCHER.match("totally-unknown-model-x", provider="openai") is None
    assert MATCHER.match("", provider="openai") is None
