"""The pure parts: thresholds, percentiles, and the price adapter's exact sums."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from costwatch.pricing.cost import PriceRow, TokenCounts, cost_of
from costwatch.savings.opportunities import (
    GroupInput,
    GroupTotals,
    SampledCall,
    Scale,
    Thresholds,
    nearest_rank,
    outliers,
    prompt_caching,
    response_cache,
)
from costwatch.savings.prices import batch_cost, has_cache_read_price, mix_cost

D = Decimal
LONG = PriceRow(
    provider="google",
    model="gemini-long",
    input=D("1.25"),
    output=D("10"),
    cache_read=D("0.3125"),
    long_context_threshold=200_000,
    long_input=D("2.5"),
    long_output=D("15"),
)


def test_thresholds_take_overrides_and_refuse_bad_values() -> None:
    assert Thresholds.from_mapping({"outlier_ratio": "3", "cache_ttl_seconds": 3600}).outlier_ratio == D(3)
    for bad, message in [
        ({"nope": 1}, "unknown threshold"),
        ({"outlier_ratio": 1.5}, "string or integer"),
        ({"cache_ttl_seconds": -1}, "whole number"),
        ({"batch_min_share": "2"}, "share"),
        ({"whatif_same_provider": "yes"}, "true or false"),
        ({"sample_requests": 0}, "between"),
        ({"outlier_ratio": "NaN"}, "number ≥ 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            Thresholds.from_mapping(bad)
    assert Thresholds.from_mapping(Thresholds().as_json()) == Thresholds()


def test_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))
    assert [nearest_rank(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    assert nearest_rank([7], 99) == 7


def test_a_mix_is_priced_exactly_as_the_sum_of_its_calls_across_the_long_context_cliff() -> None:
    calls = [
        TokenCounts(input=150_000, output=1000),
        TokenCounts(input=250_000, output=2000),
        TokenCounts(input=100, cache_read=210_000, output=10),
    ]
    priced = mix_cost(calls, LONG)
    assert priced.cost == sum(cost_of(c, LONG).total for c in calls)
    assert priced.long_context_calls == 2


def test_batch_and_cache_prices_are_unavailable_when_the_catalog_has_none(db) -> None:  # noqa: ANN001
    counts = TokenCounts(input=1000, output=100)
    assert batch_cost(counts, LONG, date(2026, 1, 1)) is None
    half = PriceRow(provider="openai", model="m", input=D(2), output=D(8), batch_discount=D("0.5"))
    assert batch_cost(counts, half, date(2026, 1, 1)) == D("0.0014")
    assert not has_cache_read_price(half) and has_cache_read_price(LONG)


def _call(
    n: int,
    at: datetime,
    *,
    inp: int = 5000,
    cost: Decimal | None = D(1),
    row: PriceRow | None = None,
    hit: bool = False,
) -> SampledCall:
    return SampledCall(
        f"t{n}",
        f"s{n}",
        at,
        "m",
        "openai",
        "",
        TokenCounts(input=inp, output=10),
        cost,
        D(1) if hit else None,
        True,
        hit,
        False,
        row,
    )


def _group(calls, requests=(), cost=D(2), hits=0):  # noqa: ANN001, ANN202
    totals = GroupTotals("feature", "f", cost, len(calls), len(calls), 0, 0, 0, len(requests) or 1, hits)
    return GroupInput(totals, calls, requests)


def test_caching_without_a_cache_read_price_is_unavailable_not_zero() -> None:
    no_cache = PriceRow(provider="x", model="m", input=D(1), output=D(1))
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    group = _group([_call(1, at, row=no_cache), _call(2, at, row=no_cache)])
    found = prompt_caching(group, Scale(D(30), D(1)), Thresholds())
    assert found is not None and found.status == "unavailable" and found.saving_per_month is None
    assert "No cache-read price" in found.notes[-1]


def test_outliers_need_a_known_median_and_requests_with_unknown_cost_are_left_out() -> None:
    from costwatch.savings.opportunities import SampledRequest

    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    requests = [SampledRequest(f"r{i}", at, D("0.01"), 100, 0, 0, 10, 1) for i in range(9)]
    requests += [SampledRequest("big", at, D("1"), 90000, 0, 0, 10, 1), SampledRequest("unk", at, None, 1, 0, 0, 1, 1)]
    found = outliers(_group([_call(1, at, row=LONG)], requests), Scale(D(30), D(1)), Thresholds())
    assert found is not None and found.evidence["requests_priced"] == 10
    assert found.evidence["top"][0]["trace_id"] == "big"
    # factor = period requests / sampled requests = 11 / 11
    assert found.saving_per_month == D("0.950000")


def test_response_cache_hits_are_realized_savings_with_the_prompt_hash_part_unavailable() -> None:
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    calls = [_call(1, at, row=LONG, cost=D(0), hit=True), _call(2, at, row=LONG)]
    found = response_cache(_group(calls, cost=D(1), hits=1), Scale(D(30), D(1)), Thresholds())
    assert found is not None and found.status == "realized" and found.saving_per_month == D("1.000000")
    assert found.evidence["hit_rate"] == "0.5000"
    assert any("prompt hash" in note for note in found.notes)
