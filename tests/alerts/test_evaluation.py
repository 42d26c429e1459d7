from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from alerts.evaluation import (
    AnomalySpec,
    Baseline,
    BudgetSpec,
    baseline_days,
    baseline_of,
    evaluate_anomaly,
    evaluate_budget,
    level_rank,
    severity_of,
)

D = Decimal


def test_budget_levels_escalate_from_warnings_to_breach() -> None:
    spec = BudgetSpec(D(100), (80, 90))
    assert evaluate_budget(spec, D("79.99"), D("0.5")).level is None
    assert evaluate_budget(spec, D(80), D("0.5")).level == "warn:80"
    warn90 = evaluate_budget(spec, D("95"), D("0.5"))
    assert (warn90.level, warn90.threshold) == ("warn:90", D(90))
    breach = evaluate_budget(spec, D("100"), D("0.5"))
    assert (breach.level, breach.value, breach.threshold) == ("breach", D(100), D(100))
    assert level_rank("breach") > level_rank("warn:90") > level_rank("warn:80") > level_rank("forecast")
    assert severity_of("breach") == "critical" and severity_of("warn:80") == "warning"


def test_forecast_fires_when_the_pace_exceeds_the_budget_but_not_too_early() -> None:
    spec = BudgetSpec(D(100), (), forecast=True)
    decision = evaluate_budget(spec, D(40), D("0.25"))
    assert (decision.level, decision.value, decision.threshold) == ("forecast", D(160), D(100))
    assert evaluate_budget(spec, D(20), D("0.25")).level is None
    assert evaluate_budget(spec, D(5), D("0.01")).level is None  # 1 % into the period: no forecast yet
    assert evaluate_budget(BudgetSpec(D(100)), D(40), D("0.25")).level is None


def test_anomaly_fires_above_twice_the_seven_day_average() -> None:
    spec = AnomalySpec()
    today = date(2026, 11, 10)
    daily = {today - timedelta(days=i): D(10) for i in range(1, 8)}
    baseline = baseline_of(spec, today, daily, first_spend=date(2026, 1, 1))
    assert baseline == Baseline(D(10), 7)
    assert evaluate_anomaly(spec, D(20), baseline).level is None  # not above 2x
    decision = evaluate_anomaly(spec, D("20.01"), baseline)
    assert (decision.level, decision.threshold) == ("anomaly", D(20))


def test_days_before_the_first_spend_do_not_drag_the_average_down() -> None:
    spec = AnomalySpec()
    today = date(2026, 11, 10)
    daily = {today - timedelta(days=i): D(10) for i in range(1, 4)}  # spent only the last 3 days
    baseline = baseline_of(spec, today, daily, first_spend=today - timedelta(days=3))
    assert baseline == Baseline(D(10), 3)
    assert evaluate_anomaly(spec, D(15), baseline).level is None
    # A zero day after the first spend does count.
    daily.pop(today - timedelta(days=2))
    assert baseline_of(spec, today, daily, first_spend=today - timedelta(days=3)).average == D(20) / 3


def test_a_group_first_seen_today_has_no_baseline() -> None:
    spec = AnomalySpec()
    today = date(2026, 11, 10)
    baseline = baseline_of(spec, today, {today: D(500)}, first_spend=today)
    assert baseline.average is None
    assert evaluate_anomaly(spec, D(500), baseline).level is None


@pytest.mark.parametrize(
    ("average", "today", "fires"),
    [
        (D("0.5"), D(50), False),  # baseline under the 1.00 minimum: tiny numbers never page
        (D(1), D("4.99"), False),  # spend under the 5.00 minimum
        (D(1), D(5), True),
    ],
)
def test_minimum_baseline_and_minimum_spend_keep_tiny_numbers_quiet(
    average: Decimal, today: Decimal, fires: bool
) -> None:
    decision = evaluate_anomaly(AnomalySpec(), today, Baseline(average, 7))
    assert (decision.level == "anomaly") is fires


def test_same_weekday_compares_with_the_same_weekday_of_previous_weeks() -> None:
    spec = AnomalySpec(days=3, same_weekday=True)
    today = date(2026, 11, 9)  # Monday
    assert baseline_days(spec, today) == [date(2026, 11, 2), date(2026, 10, 26), date(2026, 10, 19)]
    mondays_busy = {d: D(100) for d in baseline_days(spec, today)} | {date(2026, 11, 8): D(1)}
    assert baseline_of(spec, today, mondays_busy, first_spend=date(2026, 1, 1)).average == D(100)
    assert evaluate_anomaly(spec, D(150), baseline_of(spec, today, mondays_busy, date(2026, 1, 1))).level is None
    every_day = AnomalySpec(days=7)
    quiet_week = {today - timedelta(days=i): D(1) for i in range(1, 7)} | {date(2026, 11, 2): D(100)}
    assert (
        evaluate_anomaly(every_day, D(150), baseline_of(every_day, today, quiet_week, date(2026, 1, 1))).level
        == "anomaly"
    )
