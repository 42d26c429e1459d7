from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from costwatch.usage.models import (
    DirtyBucket,
    LlmCall,
    RequestRollup,
    RollupDay,
    RollupHour,
    SpanAttribution,
)
from costwatch.usage.rollups import rebuild_project, recompute_dirty
from costwatch.usage.services import mark_traces_dirty
from tests.usage.factories import make_call, make_root, reference_rollups, root_span_id

BASE = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


def _stored(project) -> dict:  # noqa: ANN001
    return {
        (r.dimension, r.key, r.hour): {
            "cost": r.cost,
            "llm_calls": r.llm_calls,
            "requests": r.requests,
            "savings": r.savings,
        }
        for r in RollupHour.objects.filter(project=project)
    }


def _insert(project, calls, roots) -> None:  # noqa: ANN001
    """What ingest does per export: insert ignoring duplicates, mark the traces' hours dirty."""
    LlmCall.objects.bulk_create(calls, ignore_conflicts=True)
    SpanAttribution.objects.bulk_create(roots, ignore_conflicts=True)
    mark_traces_dirty(project, {c.trace_id for c in calls} | {r.trace_id for r in roots})


call_specs = st.lists(
    st.tuples(
        st.integers(0, 5),  # trace
        st.integers(0, 60 * 30),  # minute offset (30 hours)
        st.sampled_from(["gpt-4o", "claude-sonnet-4", "mystery-model"]),
        st.sampled_from(["", "u1", "u2"]),  # own user
        st.sampled_from(["", "r1", "r2"]),  # response id (same id in a trace = duplicate sibling)
        st.integers(1, 5000),  # tokens
        st.booleans(),  # sent twice
    ),
    min_size=1,
    max_size=25,
)
root_specs = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["", "u3"]), st.sampled_from(["", "/chat"]), st.booleans()),
    max_size=6,
    unique_by=lambda t: t[0],
)


@pytest.mark.django_db
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=call_specs, roots=root_specs, split=st.integers(0, 25))
def test_rollups_equal_the_sum_over_raw_calls_whatever_the_arrival_order(acme, specs, roots, split) -> None:
    with transaction.atomic():
        calls = []
        for i, (trace, minute, model, user, rid, tokens, _resend) in enumerate(specs):
            cost = None if model == "mystery-model" else Decimal(tokens) / Decimal(10**6)
            call = make_call(
                acme,
                trace=f"t{trace}",
                at=BASE + timedelta(minutes=minute),
                model=model,
                user=user,
                response_id=rid,
                cost=cost,
                tokens=tokens,
                span=f"{i:016x}",
                list_cost=None if cost is None else cost * 2,
                parent=root_span_id(trace),
            )
            calls.append(call)
        root_rows = [make_root(acme, trace=f"t{t}", user=u, route=r, span=root_span_id(t)) for t, u, r, _late in roots]
        early_roots = [r for r, spec in zip(root_rows, roots) if not spec[3]]
        late_roots = [r for r, spec in zip(root_rows, roots) if spec[3]]
        # First export: part of the calls and the early roots; second: the rest, resends and late roots.
        resent = [
            make_call(acme, trace=f"t{s[0]}", at=c.started_at, span=c.span_id, cost=Decimal(7), parent=c.parent_span_id)
            for c, s in zip(calls, specs)
            if s[6]
        ]
        _insert(acme, calls[:split], early_roots)
        recompute_dirty()
        _insert(acme, calls[split:] + resent, late_roots)
        recompute_dirty()

        assert _stored(acme) == reference_rollups(calls, root_rows)
        assert not DirtyBucket.objects.exists()
        hour_total = sum((r.cost for r in RollupHour.objects.filter(project=acme, dimension="user")), Decimal(0))
        day_total = sum((r.cost for r in RollupDay.objects.filter(project=acme, dimension="user")), Decimal(0))
        assert day_total == hour_total
        before = _stored(acme)
        rebuild_project(acme.pk)
        assert _stored(acme) == before
        totals = RequestRollup.objects.filter(project=acme)
        assert sum((r.cost for r in totals), Decimal(0)) == sum(
            (v["cost"] for (d, _, _), v in before.items() if d == "total"), Decimal(0)
        )
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_rollups_of_one_project_never_include_another(acme, globex) -> None:
    _insert(acme, [make_call(acme, trace="a", at=BASE, cost=Decimal("1"))], [])
    _insert(globex, [make_call(globex, trace="a", at=BASE, cost=Decimal("5"))], [])
    recompute_dirty()
    assert RollupHour.objects.get(project=acme, dimension="total").cost == Decimal("1")
    assert RollupHour.objects.get(project=globex, dimension="total").cost == Decimal("5")


@pytest.mark.django_db(transaction=True)
def test_concurrent_rollup_runs_never_double_count(acme) -> None:
    calls = [
        make_call(acme, trace=f"t{i % 7}", at=BASE + timedelta(minutes=17 * i), cost=Decimal("0.5")) for i in range(200)
    ]
    _insert(acme, calls, [])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            recompute_dirty()
            # Re-dirty everything while the other thread works: replace semantics must hold.
            mark_traces_dirty(acme, {c.trace_id for c in calls})
            recompute_dirty()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    recompute_dirty()
    assert _stored(acme) == reference_rollups(calls, [])
    total = sum(r.cost for r in RollupHour.objects.filter(project=acme, dimension="total"))
    assert total == Decimal("100")


@pytest.mark.django_db
def test_month_caches_keep_long_periods_exact_when_late_data_arrives(acme) -> None:
    from costwatch.usage.models import RollupMonth
    from costwatch.usage.queries import cost_page, period_of
    from costwatch.usage.rollups import refresh_months

    def user_costs() -> dict[str, Decimal]:
        period = period_of(acme, "2026-09-20", "2026-11-10")
        return {r.key: r.cost_usd for r in cost_page(acme, "user", period).rows}

    days = [datetime(2026, 9, 25, 12, tzinfo=timezone.utc) + timedelta(days=5 * i) for i in range(10)]
    _insert(
        acme,
        [make_call(acme, trace=f"m{i}", at=at, user=f"u{i % 3}", cost=Decimal(i + 1)) for i, at in enumerate(days)],
        [],
    )
    recompute_dirty()
    refresh_months(today=datetime(2026, 11, 5, tzinfo=timezone.utc))
    assert set(RollupMonth.objects.filter(project=acme).values_list("month", "through")) == {
        (date(2026, 9, 1), date(2026, 10, 1)),
        (date(2026, 10, 1), date(2026, 11, 1)),
        (date(2026, 11, 1), date(2026, 11, 5)),
    }
    expected = {"u0": Decimal(1 + 4 + 7 + 10), "u1": Decimal(2 + 5 + 8), "u2": Decimal(3 + 6 + 9)}
    assert user_costs() == expected

    # A late call inside the cached October: the cache is dropped and reads stay exact.
    _insert(
        acme,
        [
            make_call(
                acme, trace="late", at=datetime(2026, 10, 12, 9, tzinfo=timezone.utc), user="u1", cost=Decimal("0.5")
            )
        ],
        [],
    )
    from costwatch.usage.models import DirtyTrace
    from costwatch.usage.rollups import recompute_traces

    # Recompute the late trace (its hour and day) without refreshing the month caches.
    marks = DirtyTrace.objects.filter(project=acme)
    recompute_traces(acme.pk, marks.values_list("trace_id", flat=True))
    marks.delete()
    assert not RollupMonth.objects.filter(project=acme, month=date(2026, 10, 1)).exists()
    assert user_costs() == {**expected, "u1": expected["u1"] + Decimal("0.5")}
    refresh_months(today=datetime(2026, 11, 5, tzinfo=timezone.utc))
    assert RollupMonth.objects.get(project=acme, month=date(2026, 10, 1), dimension="user", key="u1").cost == Decimal(
        "13.5"
    )  # 5 (Oct 15) + 8 (Oct 30) + 0.5 late
    assert user_costs() == {**expected, "u1": expected["u1"] + Decimal("0.5")}
