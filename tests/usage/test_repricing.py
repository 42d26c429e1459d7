from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from opentelemetry.trace import SpanKind

from costwatch.pricing.cost import PriceRow, TokenCounts, cost_of
from costwatch.pricing.overrides import remove_alias, set_alias
from costwatch.pricing.store import row_of, set_price
from costwatch.usage.models import DirtyBucket, LlmCall, RollupHour
from costwatch.usage.repricing import RepriceError, reprice_calls, since_of
from costwatch.usage.rollups import recompute_dirty
from costwatch.usage.services import mark_traces_dirty
from ingest.services import ingest_export
from tests.ingest.conftest import SpanRecorder
from tests.usage.factories import make_call

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 10, 15, tzinfo=timezone.utc)
LLAMA = PriceRow(
    provider="self-hosted", model="acme-llama-70b", input="0.6", output="1.8", effective_from=date(2026, 1, 1)
)


def _unpriced(project, model: str, at: datetime, **kwargs) -> LlmCall:  # noqa: ANN001, ANN003
    return make_call(project, trace=kwargs.pop("trace", "t"), at=at, model=model, cost=None, **kwargs)


def _store(project, calls: list[LlmCall]) -> None:  # noqa: ANN001
    LlmCall.objects.bulk_create(calls)
    mark_traces_dirty(project, {c.trace_id for c in calls})
    recompute_dirty()


def _total(project) -> RollupHour:  # noqa: ANN001
    return RollupHour.objects.get(project=project, dimension="total")


def test_calls_ingested_while_the_model_was_unknown_are_priced_after_the_price_is_added(acme) -> None:
    recorder = SpanRecorder()
    recorder.record(
        "chat acme-llama-70b",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "vllm",
            "gen_ai.request.model": "acme-llama-70b",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
        },
        kind=SpanKind.CLIENT,
    )
    assert ingest_export(acme, recorder.request()).accepted_calls == 1
    recompute_dirty()
    call = LlmCall.objects.get(project=acme)
    assert (call.cost_total, call.cost_source, call.price) == (None, "", None)
    assert (_total(acme).unpriced_calls, _total(acme).cost) == (1, Decimal(0))

    price = set_price(LLAMA, project=acme).price
    result = reprice_calls(acme)

    assert (result.checked, result.changed, result.priced, result.unpriced, result.hours) == (1, 1, 1, 0, 1)
    call.refresh_from_db()
    expected = cost_of(TokenCounts(input=1200, output=300), row_of(price)).total
    assert call.cost_total == expected == Decimal("0.00126")
    assert (call.price, call.price_key, call.cost_source) == (price, "acme-llama-70b", "computed")
    hour = call.started_at.replace(minute=0, second=0, microsecond=0)
    assert list(DirtyBucket.objects.filter(project=acme).values_list("hour", flat=True)) == [hour]
    recompute_dirty()
    assert (_total(acme).unpriced_calls, _total(acme).cost) == (0, expected)
    assert RollupHour.objects.get(project=acme, dimension="model", key="acme-llama-70b").cost == expected


def test_a_second_run_changes_nothing_and_dirties_nothing(acme) -> None:
    _store(acme, [_unpriced(acme, "acme-llama-70b", T0 + timedelta(minutes=i), tokens=7) for i in range(5)])
    # 7 tokens at 0.1234567891 per 1M needs more decimals than the column keeps: still idempotent.
    set_price(PriceRow(provider="self-hosted", model="acme-llama-70b", input="0.1234567891", output="3"), project=acme)
    assert reprice_calls(acme).changed == 5
    recompute_dirty()
    again = reprice_calls(acme)
    assert (again.checked, again.changed, again.priced, again.hours) == (5, 0, 5, 0)
    assert not DirtyBucket.objects.exists()


def test_since_and_model_limit_what_is_repriced(acme) -> None:
    early, late = T0, T0 + timedelta(days=3)
    _store(
        acme,
        [
            _unpriced(acme, "acme-llama-70b", early, trace="e"),
            _unpriced(acme, "acme-llama-70b", late, trace="l"),
            _unpriced(acme, "acme-mistral", late, trace="m"),
        ],
    )
    set_price(LLAMA, project=acme)
    set_price(PriceRow(provider="self-hosted", model="acme-mistral", input="1", output="1"), project=acme)

    by_model = reprice_calls(acme, model="acme-mistral")
    assert (by_model.checked, by_model.changed) == (1, 1)
    assert LlmCall.objects.filter(project=acme, cost_total__isnull=True).count() == 2

    since = reprice_calls(acme, since=since_of(acme, "2026-03-04"))
    assert (since.checked, since.changed, since.priced) == (2, 1, 2)
    assert LlmCall.objects.get(project=acme, trace_id__startswith="e").cost_total is None

    assert reprice_calls(acme).changed == 1
    assert not LlmCall.objects.filter(project=acme, cost_total__isnull=True).exists()


def test_a_corrected_price_changes_existing_costs_and_the_rollups(acme) -> None:
    wrong = PriceRow(
        provider="self-hosted", model="acme-llama-70b", input="6", output="18", effective_from=date(2026, 1, 1)
    )
    set_price(wrong, project=acme)
    _store(acme, [_unpriced(acme, "acme-llama-70b", T0, tokens=1000)])  # 1000 in, 500 out
    reprice_calls(acme)
    recompute_dirty()
    assert _total(acme).cost == Decimal("0.015")

    assert set_price(LLAMA, project=acme).status == "changed"  # same start date: corrected in place
    result = reprice_calls(acme, model="acme-llama-70b")
    assert (result.changed, result.hours) == (1, 1)
    recompute_dirty()
    assert LlmCall.objects.get(project=acme).cost_total == Decimal("0.0015")
    assert _total(acme).cost == Decimal("0.0015")


def test_reprice_of_one_project_never_touches_another(acme, globex) -> None:
    _store(acme, [_unpriced(acme, "gpt-4o", T0)])
    _store(globex, [_unpriced(globex, "gpt-4o", T0)])
    set_price(PriceRow(provider="openai", model="gpt-4o", input="2.5", output="10"))  # global
    assert reprice_calls(acme).changed == 1
    assert LlmCall.objects.get(project=globex).cost_total is None
    assert not DirtyBucket.objects.filter(project=globex).exists()
    # A project's override is never used for another project's calls.
    set_price(PriceRow(provider="openai", model="gpt-4o", input="1", output="1"), project=globex)
    assert reprice_calls(acme).changed == 0


def test_batches_cover_every_call_even_with_equal_start_times(acme) -> None:
    calls = [_unpriced(acme, "acme-llama-70b", T0 + timedelta(minutes=i // 3), trace=f"b{i}") for i in range(11)]
    _store(acme, calls)
    set_price(LLAMA, project=acme)
    result = reprice_calls(acme, batch_size=2)
    assert (result.checked, result.changed, result.hours) == (11, 11, 1)
    assert not LlmCall.objects.filter(project=acme, cost_total__isnull=True).exists()


def test_reported_cost_is_used_until_a_catalog_price_exists_and_kept_beside_it(acme) -> None:
    call = _unpriced(acme, "acme-llama-70b", T0, tokens=1000)
    call.reported_cost, call.cost_total, call.cost_source = Decimal("0.5"), Decimal("0.5"), "reported"
    _store(acme, [call])
    before = reprice_calls(acme)
    assert (before.changed, before.reported, before.unpriced) == (0, 1, 0)
    set_price(LLAMA, project=acme)
    assert reprice_calls(acme).priced == 1
    call.refresh_from_db()
    assert (call.cost_source, call.cost_total, call.reported_cost) == ("computed", Decimal("0.0015"), Decimal("0.5"))


def test_removing_an_alias_makes_its_calls_unpriced_again_never_zero(acme) -> None:
    set_price(LLAMA, project=acme)
    set_alias(acme, "prod-llama", "acme-llama-70b")
    _store(acme, [_unpriced(acme, "prod-llama", T0)])
    assert reprice_calls(acme).priced == 1
    remove_alias(acme, "prod-llama")
    result = reprice_calls(acme, model="prod-llama")
    assert (result.changed, result.unpriced) == (1, 1)
    call = LlmCall.objects.get(project=acme)
    assert (call.cost_total, call.price, call.price_key, call.cost_source) == (None, None, "", "")
    recompute_dirty()
    assert _total(acme).unpriced_calls == 1


def test_since_is_read_in_the_project_time_zone(acme) -> None:
    assert since_of(acme, "2026-03-02") == datetime(2026, 3, 1, 23, tzinfo=timezone.utc)
    assert since_of(acme, "2026-03-02T08:00:00Z") == datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    with pytest.raises(RepriceError, match="not a date"):
        since_of(acme, "2026-13-40")


def test_each_repricing_is_recorded_with_who_when_range_and_totals(acme, globex) -> None:
    from costwatch.pricing.models import Repricing

    _store(acme, [_unpriced(acme, "acme-llama-70b", T0 + timedelta(minutes=i), tokens=1_000_000) for i in range(2)])
    set_price(PriceRow(provider="self-hosted", model="acme-llama-70b", input="1", output="3"), project=acme)
    first = reprice_calls(acme, since=T0, by="alice")
    # 1M input at $1 + 500k output at $3 = $2.50 a call
    assert (first.total_before, first.unpriced_before, first.total_after, first.unpriced) == (0, 2, 5, 0)
    set_price(PriceRow(provider="self-hosted", model="acme-llama-70b", input="2", output="3"), project=acme)
    second = reprice_calls(acme, model="acme-llama-70b", by="bob")
    assert (second.total_before, second.total_after) == (5, 7)
    records = list(Repricing.objects.filter(project=acme).order_by("at", "id"))
    assert [(r.by, r.since, r.model, r.checked, r.changed) for r in records] == [
        ("alice", T0, "", 2, 2),
        ("bob", None, "acme-llama-70b", 2, 2),
    ]
    assert [(r.total_before, r.total_after, r.unpriced_before, r.unpriced_after) for r in records] == [
        (0, 5, 2, 0),
        (5, 7, 0, 0),
    ]
    assert not Repricing.objects.filter(project=globex).exists()
