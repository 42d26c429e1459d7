"""costwatch.pricing.sources.genai_prices on small hand-made genai-prices providers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import genai_prices
import pytest
from genai_prices.types import (
    ClauseEquals,
    ClauseOr,
    ClauseStartsWith,
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    PriceVariant,
    Provider,
    StartDateConstraint,
    Tier,
    TieredPrices,
    TimeOfDateConstraint,
)

from costwatch.pricing.cost import choose_price
from costwatch.pricing.sources.genai_prices import SINCE_EVER, clause_json, read_catalog

D = Decimal


def provider(*models: ModelInfo, pid: str = "acme-ai") -> Provider:
    return Provider(
        id=pid,
        name="Acme AI",
        api_pattern="https://api.acme",
        pricing_urls=["https://acme/prices"],
        model_match=ClauseStartsWith(starts_with="acme-"),
        models=list(models),
    )


def rows_of(*models: ModelInfo):  # noqa: ANN201
    catalog = read_catalog([provider(*models)], source_version="test")
    return catalog, [r for r in catalog.rows if r.provider == "acme-ai"]


def test_price_history_becomes_one_row_per_period() -> None:
    model = ModelInfo(
        id="acme-1",
        match=ClauseEquals(equals="acme-1"),
        context_window=1000,
        prices=[
            ConditionalPrice(prices=ModelPrice(input_mtok=D(10), output_mtok=D(40))),
            ConditionalPrice(
                constraint=StartDateConstraint(start_date=date(2025, 6, 10)),
                prices=ModelPrice(input_mtok=D(2), output_mtok=D(8)),
            ),
        ],
    )
    catalog, rows = rows_of(model)
    assert [(r.effective_from, r.effective_until, r.input, r.output) for r in rows] == [
        (SINCE_EVER, date(2025, 6, 10), D(10), D(40)),
        (date(2025, 6, 10), None, D(2), D(8)),
    ]
    assert rows[0].context_window == 1000 and rows[0].source_url == "https://acme/prices"
    assert catalog.models[0].match == {"equals": "acme-1"} and catalog.version == "test"


def test_a_tiered_price_is_the_long_context_tier() -> None:
    model = ModelInfo(
        id="acme-long",
        match=ClauseEquals(equals="acme-long"),
        prices=ModelPrice(
            input_mtok=TieredPrices(base=D(3), tiers=[Tier(start=200_000, price=D(6))]),
            output_mtok=TieredPrices(base=D(15), tiers=[Tier(start=200_000, price=D("22.5"))]),
            cache_write_mtok=D("3.75"),
            cache_write_1h_mtok=TieredPrices(base=D(6), tiers=[Tier(start=200_000, price=D(12))]),
        ),
    )
    _, (row,) = rows_of(model)
    assert (row.long_context_threshold, row.long_input, row.long_output) == (200_000, D(6), D("22.5"))
    assert (row.cache_write, row.cache_write_1h, row.long_cache_write_1h) == (D("3.75"), D(6), D(12))


def test_variants_become_tier_rows_from_their_start_and_route_variants_are_reported() -> None:
    model = ModelInfo(
        id="acme-2",
        match=ClauseEquals(equals="acme-2"),
        prices=ModelPrice(input_mtok=D(2), output_mtok=D(8), cache_read_mtok=D("0.5")),
        price_variants=[
            PriceVariant(when={"service_tier": "default"}, prices=ModelPrice()),
            PriceVariant(
                when={"service_tier": "flex"},
                prices=ModelPrice(input_mtok=D(1), output_mtok=D(4)),
                constraint=StartDateConstraint(start_date=date(2026, 1, 1)),
            ),
            PriceVariant(when={"processing": "batch"}, prices=ModelPrice(input_mtok=D(1), output_mtok=D(4))),
            PriceVariant(when={"route": "eu"}, prices=ModelPrice(input_mtok=D(3))),
        ],
    )
    catalog, rows = rows_of(model)
    by_tier = {r.service_tier: r for r in rows}
    assert set(by_tier) == {"standard", "flex", "batch"}
    assert (by_tier["flex"].effective_from, by_tier["flex"].input, by_tier["flex"].cache_read) == (
        date(2026, 1, 1),
        D(1),
        D("0.5"),  # a variant replaces only the prices it states
    )
    assert by_tier["batch"].effective_from == SINCE_EVER
    assert ("acme-ai/acme-2", "price variant route=eu is no service tier; not stored") in catalog.skipped
    before_flex = choose_price(rows, date(2025, 12, 31), service_tier="flex")
    assert before_flex.approximate and before_flex.row is by_tier["standard"]


def test_time_of_day_prices_are_rows_with_a_daily_window() -> None:
    model = ModelInfo(
        id="acme-chat",
        match=ClauseEquals(equals="acme-chat"),
        prices=[
            ConditionalPrice(prices=ModelPrice(input_mtok=D("0.135"), output_mtok=D("0.55"))),
            ConditionalPrice(
                constraint=TimeOfDateConstraint(start_time=time(0, 30, tzinfo=UTC), end_time=time(16, 30, tzinfo=UTC)),
                prices=ModelPrice(input_mtok=D("0.27"), output_mtok=D("1.1")),
            ),
        ],
    )
    _, rows = rows_of(model)
    assert [(r.daily_from, r.daily_until, r.input) for r in rows] == [
        (None, None, D("0.135")),
        (time(0, 30), time(16, 30), D("0.27")),
    ]
    for moment, expected in (
        (time(0, 15), D("0.135")),
        (time(0, 30), D("0.27")),
        (time(16, 29), D("0.27")),
        (time(16, 30), D("0.135")),
    ):
        at = datetime.combine(date(2026, 5, 1), moment, tzinfo=UTC)
        theirs = genai_prices.types.ModelInfo.get_prices(model, at).input_mtok
        assert choose_price(rows, at).row.input == expected == theirs


@pytest.mark.parametrize(
    ("prices", "reason"),
    [
        (ModelPrice(audio_hours=D("0.36")), "priced per audio_hours, not per token"),
        (
            ModelPrice(
                input_mtok=TieredPrices(
                    base=D(1), tiers=[Tier(start=32_000, price=D(2)), Tier(start=128_000, price=D(3))]
                ),
                output_mtok=D(1),
            ),
            "input_mtok has 2 price tiers; a price row holds one",
        ),
    ],
)
def test_what_a_row_cannot_hold_is_skipped_with_its_reason(prices: ModelPrice, reason: str) -> None:
    catalog, rows = rows_of(ModelInfo(id="acme-odd", match=ClauseEquals(equals="acme-odd"), prices=prices))
    assert rows == [] and ("acme-ai/acme-odd", reason) in catalog.skipped
    assert catalog.models == []


def test_free_model_costs_zero_and_other_units_are_kept() -> None:
    _, (free,) = rows_of(ModelInfo(id="acme-free", match=ClauseEquals(equals="acme-free"), prices=ModelPrice()))
    assert (free.input, free.output) == (0, 0)
    _, (search,) = rows_of(
        ModelInfo(
            id="acme-s",
            match=ClauseEquals(equals="acme-s"),
            prices=ModelPrice(input_mtok=D(1), output_mtok=D(2), web_searches_kcount=D(10)),
        )
    )
    assert search.other_prices == {"web_searches_kcount": D(10)}


def test_modality_prices_are_read() -> None:
    _, (row,) = rows_of(
        ModelInfo(
            id="acme-rt",
            match=ClauseEquals(equals="acme-rt"),
            prices=ModelPrice(
                input_mtok=D(5),
                output_mtok=D(20),
                input_audio_mtok=D(40),
                output_audio_mtok=D(80),
                cache_audio_read_mtok=D("2.5"),
                input_image_mtok=D(5),
                output_image_mtok=D(30),
                input_video_mtok=D(7),
            ),
        )
    )
    assert (row.input_audio, row.output_audio, row.cache_read_audio) == (D(40), D(80), D("2.5"))
    assert (row.input_image, row.output_image, row.input_video) == (D(5), D(30), D(7))


def test_clause_json_keeps_the_source_shape() -> None:
    clause = ClauseOr(or_=[ClauseEquals(equals="a"), ClauseStartsWith(starts_with="b")])
    assert clause_json(clause) == {"or": [{"equals": "a"}, {"starts_with": "b"}]}
    assert clause_json(None) is None


def test_history_supplement_only_fills_a_period_before_the_source() -> None:
    gpt = ModelInfo(
        id="gpt-4o", match=ClauseEquals(equals="gpt-4o"), prices=ModelPrice(input_mtok=D("2.5"), output_mtok=D(10))
    )
    catalog = read_catalog([provider(gpt, pid="openai")], source_version="test")
    assert [(r.effective_from, r.effective_until, r.input) for r in catalog.history] == [
        (date(2024, 5, 13), date(2024, 10, 2), D(5))
    ]
    assert [(r.effective_from, r.input) for r in catalog.rows] == [(date(2024, 10, 2), D("2.5"))]
    # a source that prices the model with its own dates wins: the supplement is skipped
    dated = ModelInfo(
        id="gpt-4o",
        match=ClauseEquals(equals="gpt-4o"),
        prices=[
            ConditionalPrice(prices=ModelPrice(input_mtok=D(5), output_mtok=D(15))),
            ConditionalPrice(
                constraint=StartDateConstraint(start_date=date(2024, 8, 1)),
                prices=ModelPrice(input_mtok=D("2.5"), output_mtok=D(10)),
            ),
        ],
    )
    catalog = read_catalog([provider(dated, pid="openai")], source_version="test")
    assert catalog.history == [] and any("overlaps the source" in reason for _, reason in catalog.skipped)
