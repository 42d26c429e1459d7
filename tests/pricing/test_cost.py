from __future__ import annotations

import decimal
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costwatch.pricing.cost import (
    CallCost,
    PriceRow,
    TokenCounts,
    batch_row,
    choose_price,
    cost_and_list_price_of,
    cost_of,
    list_price_of,
    price_in_force,
)

D = Decimal


def row(**overrides: object) -> PriceRow:
    values: dict[str, object] = {"provider": "openai", "model": "gpt-4o", "input": D("2.5"), "output": D("10")}
    values.update(overrides)
    return PriceRow(**values)  # type: ignore[arg-type]


SONNET = PriceRow(
    provider="anthropic",
    model="claude-sonnet-4",
    input=D("3"),
    output=D("15"),
    cache_read=D("0.3"),
    cache_write=D("3.75"),
    cache_write_1h=D("6"),
    long_context_threshold=200_000,
    long_input=D("6"),
    long_output=D("22.5"),
    long_cache_read=D("0.6"),
    long_cache_write=D("7.5"),
    batch_discount=D("0.5"),
)


def test_gpt_4o_million_input_and_500_output_is_exact() -> None:
    cost = cost_of(TokenCounts(input=1_000_000, output=500), row())
    assert cost == CallCost(
        input=D("2.5"),
        cache_read=D(0),
        cache_write=D(0),
        output=D("0.005"),
        total=D("2.505"),
        long_context=False,
        batch=False,
    )
    assert str(cost.total) == "2.505"


def test_every_part_is_priced_separately() -> None:
    counts = TokenCounts(input=1_000, cache_read=10_000, cache_write=2_000, cache_write_1h=500, output=300)
    cost = cost_of(counts, SONNET)
    assert cost.input == D("0.003")
    assert cost.cache_read == D("0.003")
    assert cost.cache_write == D("0.0075") + D("0.003")
    assert cost.output == D("0.0045")
    assert cost.total == D("0.021")


def test_reasoning_tokens_are_not_charged_twice() -> None:
    # Output already includes reasoning; the reasoning count is informational.
    assert cost_of(TokenCounts(output=100, reasoning=80), row()).total == D("0.001")


def test_tiny_prices_stay_exact() -> None:
    cost = cost_of(TokenCounts(cache_read=1), row(cache_read=D("0.00875")))
    assert cost.cache_read == D("0.00000000875")


def test_missing_cache_read_price_falls_back_to_input() -> None:
    assert cost_of(TokenCounts(cache_read=1_000_000), row()).cache_read == D("2.5")


def test_missing_cache_write_price_falls_back_to_input() -> None:
    assert cost_of(TokenCounts(cache_write=1_000_000), row()).cache_write == D("2.5")


def test_missing_one_hour_write_price_falls_back_to_cache_write_then_input() -> None:
    with_write = row(cache_write=D("3.125"))
    assert cost_of(TokenCounts(cache_write_1h=1_000_000), with_write).cache_write == D("3.125")
    assert cost_of(TokenCounts(cache_write_1h=1_000_000), row()).cache_write == D("2.5")


def test_prompt_of_exactly_the_threshold_is_not_long_context() -> None:
    cost = cost_of(TokenCounts(input=200_000, output=1_000), SONNET)
    assert not cost.long_context
    assert cost.input == D("0.6")
    assert cost.output == D("0.015")


def test_one_token_over_the_threshold_prices_the_whole_call_long() -> None:
    cost = cost_of(TokenCounts(input=200_001, output=1_000), SONNET)
    assert cost.long_context
    assert cost.input == D("1.200006")
    assert cost.output == D("0.0225")


def test_cache_tokens_count_towards_the_threshold() -> None:
    counts = TokenCounts(input=1, cache_read=100_000, cache_write=100_000, output=0)
    cost = cost_of(counts, SONNET)
    assert cost.long_context
    assert cost.cache_read == D("0.06")
    assert cost.cache_write == D("0.75")


def test_long_context_without_long_part_price_uses_normal_price_of_that_part() -> None:
    price = row(long_context_threshold=10, long_input=D("5"), cache_read=D("1"))
    cost = cost_of(TokenCounts(input=1_000_000, cache_read=1_000_000, output=1_000_000), price)
    assert cost.long_context
    assert cost.input == D("5")
    assert cost.cache_read == D("1")
    assert cost.output == D("10")


def test_long_context_part_that_falls_back_to_input_uses_long_input() -> None:
    price = row(long_context_threshold=10, long_input=D("5"))
    cost = cost_of(TokenCounts(cache_read=1_000_000, cache_write=1_000_000), price)
    assert cost.cache_read == D("5")
    assert cost.cache_write == D("5")


def test_one_hour_writes_keep_their_price_in_long_context() -> None:
    # A price row has no long-context 1-hour write price.
    cost = cost_of(TokenCounts(input=300_000, cache_write_1h=1_000_000), SONNET)
    assert cost.long_context
    assert cost.cache_write == D("6")


def test_threshold_without_long_prices_changes_nothing_but_the_flag() -> None:
    price = row(long_context_threshold=100)
    cost = cost_of(TokenCounts(input=1_000_000), price)
    assert cost.long_context
    assert cost.total == D("2.5")


def test_batch_discount_applies_to_every_part() -> None:
    counts = TokenCounts(input=1_000, cache_read=10_000, cache_write=2_000, cache_write_1h=500, output=300)
    full = cost_of(counts, SONNET)
    batch = cost_of(counts, SONNET, batch=True)
    assert batch.batch
    for part in ("input", "cache_read", "cache_write", "output", "total"):
        assert getattr(batch, part) == getattr(full, part) / 2


def test_batch_without_a_discount_costs_the_standard_price() -> None:
    cost = cost_of(TokenCounts(input=1_000_000), row(), batch=True)
    assert cost.total == D("2.5")
    assert not cost.batch


def test_batch_discount_is_ignored_for_a_standard_call() -> None:
    assert cost_of(TokenCounts(input=1_000_000), row(batch_discount=D("0.5"))).total == D("2.5")


@pytest.mark.parametrize("field", ["input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning"])
def test_negative_counts_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        cost_of(TokenCounts(**{field: -1}), row())
    with pytest.raises(ValueError, match=field):
        list_price_of(TokenCounts(**{field: -1}), row())


def test_non_integer_counts_are_rejected() -> None:
    with pytest.raises(TypeError):
        cost_of(TokenCounts(input=1.5), row())  # type: ignore[arg-type]


def test_float_prices_are_refused() -> None:
    with pytest.raises(TypeError, match="input"):
        row(input=2.5)
    with pytest.raises(TypeError, match="cache_read"):
        row(cache_read=0.1)


def test_int_and_str_prices_become_decimals() -> None:
    price = row(input=3, output="15.5", cache_read="0.30")
    assert price.input == D(3) and isinstance(price.input, Decimal)
    assert price.output == D("15.5")
    assert price.cache_read == D("0.3")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1", "abc"])
def test_invalid_prices_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        row(output=bad if bad == "abc" else D(bad))


def test_bool_price_is_refused() -> None:
    with pytest.raises(TypeError):
        row(input=True)


def test_required_prices_and_model() -> None:
    with pytest.raises(ValueError):
        row(input=None)
    with pytest.raises(ValueError):
        row(model="")


def test_batch_discount_is_a_fraction() -> None:
    with pytest.raises(ValueError):
        row(batch_discount=D("1.5"))
    assert row(batch_discount=D("1")).batch_discount == 1


def test_effective_range_must_not_be_empty() -> None:
    with pytest.raises(ValueError):
        row(effective_from=date(2025, 1, 1), effective_until=date(2025, 1, 1))


def test_dates_must_be_dates() -> None:
    with pytest.raises(TypeError):
        row(effective_from=datetime(2025, 1, 1))
    with pytest.raises(TypeError):
        row(checked_on="2025-01-01")


def test_negative_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        row(long_context_threshold=-1)
    with pytest.raises(TypeError):
        row(context_window=1.5)


def test_list_price_charges_every_prompt_token_at_the_input_price() -> None:
    counts = TokenCounts(input=1_000, cache_read=9_000, cache_write=0, output=1_000)
    assert list_price_of(counts, SONNET) == D("0.045")
    saved = list_price_of(counts, SONNET) - cost_of(counts, SONNET).total
    assert saved == D("0.0243")


def test_list_price_uses_the_long_context_tier_of_the_prompt() -> None:
    counts = TokenCounts(input=1, cache_read=250_000, output=1_000_000)
    assert list_price_of(counts, SONNET) == D("250001") * 6 / 1_000_000 + D("22.5")


def test_list_price_can_be_below_cost_when_cache_writes_cost_more() -> None:
    counts = TokenCounts(cache_write=1_000_000)
    assert list_price_of(counts, SONNET) < cost_of(counts, SONNET).total


GPT_4O_HISTORY = [
    row(effective_from=date(2024, 5, 13), effective_until=date(2024, 10, 2), input=D(5), output=D(15)),
    row(effective_from=date(2024, 10, 2)),
]


@pytest.mark.parametrize(
    ("at", "expected_input"),
    [
        (date(2024, 5, 13), D(5)),
        (date(2024, 10, 1), D(5)),
        (date(2024, 10, 2), D("2.5")),
        (date(2030, 1, 1), D("2.5")),
    ],
)
def test_price_in_force_uses_inclusive_start_and_exclusive_end(at: date, expected_input: Decimal) -> None:
    chosen = price_in_force(GPT_4O_HISTORY, at)
    assert chosen is not None and chosen.input == expected_input


def test_no_price_before_the_first_row() -> None:
    assert price_in_force(GPT_4O_HISTORY, date(2024, 5, 12)) is None
    assert price_in_force([], date(2024, 5, 12)) is None


def test_overlapping_rows_prefer_the_latest_start_then_the_last_given() -> None:
    base = row(effective_from=date(2024, 1, 1))
    newer = row(effective_from=date(2024, 6, 1), input=D(1))
    override = row(effective_from=date(2024, 6, 1), input=D(2))
    assert price_in_force([newer, base], date(2024, 7, 1)) is newer
    assert price_in_force([base, newer, override], date(2024, 7, 1)) is override


def test_aware_datetime_is_taken_as_its_utc_date() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 2024-10-02 08:00 in Tokyo is still 2024-10-01 in UTC.
    chosen = price_in_force(GPT_4O_HISTORY, datetime(2024, 10, 2, 8, 0, tzinfo=tokyo))
    assert chosen is not None and chosen.input == D(5)


def test_exactness_is_enforced_rather_than_rounded() -> None:
    huge = row(input=D("1." + "1" * 90))
    with pytest.raises(decimal.Inexact):
        cost_of(TokenCounts(input=3), huge)


counts_strategy = st.builds(
    TokenCounts,
    input=st.integers(0, 2_000_000),
    cache_read=st.integers(0, 2_000_000),
    cache_write=st.integers(0, 2_000_000),
    cache_write_1h=st.integers(0, 2_000_000),
    output=st.integers(0, 2_000_000),
)
money = st.decimals(min_value=0, max_value=200, places=4, allow_nan=False, allow_infinity=False)
maybe_money = st.none() | money


@st.composite
def price_rows(draw: st.DrawFn) -> PriceRow:
    input_, output = draw(money), draw(money)
    cache_read, cache_write, cache_write_1h = draw(maybe_money), draw(maybe_money), draw(maybe_money)
    long_kwargs: dict[str, object] = {}
    if draw(st.booleans()):
        # Long-context prices are never below the normal ones, as with every real provider.
        uplift = draw(st.decimals(min_value=1, max_value=3, places=2))
        long_kwargs = {
            "long_context_threshold": draw(st.integers(0, 3_000_000)),
            "long_input": input_ * uplift,
            "long_output": output * uplift,
            "long_cache_read": None if cache_read is None else cache_read * uplift,
            "long_cache_write": None if cache_write is None else cache_write * uplift,
        }
    return PriceRow(
        provider="p",
        model="m",
        input=input_,
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
        cache_write_1h=cache_write_1h,
        batch_discount=draw(st.none() | st.decimals(min_value=0, max_value=1, places=2)),
        **long_kwargs,  # type: ignore[arg-type]
    )


@given(counts_strategy, price_rows(), st.booleans())
def test_total_is_the_sum_of_the_parts(counts: TokenCounts, price: PriceRow, batch: bool) -> None:
    cost = cost_of(counts, price, batch=batch)
    assert cost.total == cost.input + cost.cache_read + cost.cache_write + cost.output
    assert cost.total >= 0


@given(
    counts_strategy,
    price_rows(),
    st.sampled_from(["input", "cache_read", "cache_write", "cache_write_1h", "output"]),
    st.integers(1, 500_000),
)
def test_total_never_decreases_when_a_count_grows(counts: TokenCounts, price: PriceRow, field: str, extra: int) -> None:
    more = TokenCounts(**{**counts.__dict__, field: getattr(counts, field) + extra})
    assert cost_of(more, price).total >= cost_of(counts, price).total


@given(counts_strategy, price_rows())
def test_cost_and_list_price_in_one_pass_equal_the_two_functions(counts: TokenCounts, price: PriceRow) -> None:
    cost, list_price = cost_and_list_price_of(counts, price)
    assert cost == cost_of(counts, price)
    assert list_price == list_price_of(counts, price)
    assert str(list_price) == str(list_price_of(counts, price))  # the same Decimal, digit for digit


@given(counts_strategy, price_rows())
def test_batch_never_costs_more(counts: TokenCounts, price: PriceRow) -> None:
    assert cost_of(counts, price, batch=True).total <= cost_of(counts, price).total


# --- Service tiers, daily windows, modality, cache lifetimes (the API ingest prices with) -------

STANDARD_ROW = row(cache_read=D("1.25"), effective_from=date(2024, 10, 2))
FLEX_ROW = row(input=D("1.25"), output=D("5"), service_tier="flex", effective_from=date(2026, 10, 12))


def test_choose_price_takes_the_row_of_the_tier() -> None:
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    choice = choose_price([STANDARD_ROW, FLEX_ROW], at, service_tier="flex")
    assert choice is not None and choice.row is FLEX_ROW and not choice.approximate
    assert choose_price([STANDARD_ROW, FLEX_ROW], at).row is STANDARD_ROW


def test_choose_price_falls_back_to_standard_and_says_so() -> None:
    before_flex = datetime(2026, 1, 1, tzinfo=timezone.utc)
    choice = choose_price([STANDARD_ROW, FLEX_ROW], before_flex, service_tier="flex")
    assert choice.row is STANDARD_ROW and choice.approximate and "no flex price for gpt-4o" in choice.note
    assert choose_price([STANDARD_ROW], before_flex, service_tier="priority").approximate


def test_batch_without_a_batch_row_uses_the_discount_exactly() -> None:
    discounted = row(batch_discount=D("0.5"), cache_read=D("1.25"))
    choice = choose_price([discounted], date(2025, 1, 1), service_tier="batch")
    assert not choice.approximate and choice.row.service_tier == "batch"
    assert (choice.row.input, choice.row.output, choice.row.cache_read) == (D("1.25"), D(5), D("0.625"))
    assert cost_of(TokenCounts(input=1_000_000), choice.row).total == D("1.25")
    with pytest.raises(ValueError, match="no batch discount"):
        batch_row(row())


def test_no_standard_row_in_force_is_unpriced_whatever_the_tier() -> None:
    assert choose_price([FLEX_ROW], date(2026, 1, 1), service_tier="flex") is None
    assert choose_price([], date(2026, 1, 1)) is None


def test_unknown_tier_is_an_error() -> None:
    with pytest.raises(ValueError, match="service_tier must be one of"):
        choose_price([STANDARD_ROW], date(2025, 1, 1), service_tier="turbo")
    with pytest.raises(ValueError, match="service_tier must be one of"):
        row(service_tier="turbo")


def test_daily_window_row_beats_the_all_day_row_inside_its_hours() -> None:
    all_day = row(input=D("0.135"), output=D("0.55"))
    peak = row(input=D("0.27"), output=D("1.1"), daily_from=time(0, 30), daily_until=time(16, 30))
    rows = [all_day, peak]
    assert price_in_force(rows, datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc)) is peak
    assert price_in_force(rows, datetime(2026, 1, 1, 16, 29, tzinfo=timezone.utc)) is peak
    assert price_in_force(rows, datetime(2026, 1, 1, 16, 30, tzinfo=timezone.utc)) is all_day
    # a window across midnight
    night = row(input=D(1), output=D(1), daily_from=time(22), daily_until=time(2))
    assert price_in_force([all_day, night], datetime(2026, 1, 1, 23, tzinfo=timezone.utc)) is night
    assert price_in_force([all_day, night], datetime(2026, 1, 1, 1, tzinfo=timezone.utc)) is night
    assert price_in_force([all_day, night], datetime(2026, 1, 1, 2, tzinfo=timezone.utc)) is all_day


def test_daily_window_needs_both_ends() -> None:
    with pytest.raises(ValueError, match="go together"):
        row(daily_from=time(1))
    with pytest.raises(TypeError, match="naive time"):
        row(daily_from=time(1, tzinfo=timezone.utc), daily_until=time(2))


def test_modality_tokens_are_priced_at_their_own_rate_inside_their_part() -> None:
    realtime = row(
        input=D(5),
        output=D(20),
        cache_read=D("2.5"),
        input_audio=D(40),
        output_audio=D(80),
        cache_read_audio=D("2.5"),
        input_image=D(5),
    )
    counts = TokenCounts(
        input=1_000,
        input_audio=600,
        input_image=100,
        cache_read=500,
        cache_read_audio=500,
        output=300,
        output_audio=200,
    )
    cost = cost_of(counts, realtime)
    # input: 300 text × 5 + 600 × 40 + 100 × 5; cache: 500 × 2.5; output: 100 × 20 + 200 × 80
    assert cost.input == D("0.026") and cost.cache_read == D("0.00125") and cost.output == D("0.018")
    assert not cost.approximate and cost.notes == ()


def test_modality_without_a_price_is_priced_as_text_and_marked_approximate() -> None:
    cost = cost_of(TokenCounts(input=1_000, input_video=400, output=10, output_image=10), row())
    assert cost.total == D("0.0026")
    assert cost.approximate and len(cost.notes) == 2
    assert "no input video price" in cost.notes[0] and "400 input video tokens at the text rate" in cost.notes[0]


def test_modality_counts_cannot_exceed_their_part() -> None:
    with pytest.raises(ValueError, match="modality counts of input"):
        cost_of(TokenCounts(input=10, input_audio=11), row())


def test_one_hour_writes_without_their_price_are_approximate() -> None:
    cost = cost_of(TokenCounts(cache_write_1h=1_000), row(cache_write=D("3.75")))
    assert cost.cache_write == D("0.00375") and cost.approximate
    assert "no 1-hour cache write price" in cost.notes[0]
    exact = cost_of(TokenCounts(cache_write=1_000, cache_write_1h=1_000), SONNET)
    assert exact.cache_write == D("0.00975") and not exact.approximate


def test_long_context_one_hour_write_price() -> None:
    long_row = replace(SONNET, long_cache_write_1h=D(12))
    cost = cost_of(TokenCounts(input=200_000, cache_write_1h=1_000), long_row)
    assert cost.long_context and cost.cache_write == D("0.012")


def test_reasoning_price_applies_to_reasoning_tokens_only() -> None:
    thinking = row(output_reasoning=D(40))
    cost = cost_of(TokenCounts(output=1_000, reasoning=250), thinking)
    assert cost.output == D("0.0175")  # 750 × 10 + 250 × 40


def test_other_prices_are_kept_as_decimals_and_floats_refused() -> None:
    assert row(other_prices={"web_searches_kcount": "10"}).other_prices == {"web_searches_kcount": D(10)}
    with pytest.raises(TypeError):
        row(other_prices={"web_searches_kcount": 10.0})
