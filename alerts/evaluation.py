"""Pure rule evaluation: numbers + a rule spec in, a decision out.

Nothing here touches the database, so every edge (first spend, tiny baselines) is tested fast. The
periods rules are evaluated over (days, weeks, months in the project's time zone) are the
project's calendar's (costwatch.projects.calendar).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from costwatch.usage.forecast import forecast

BREACH = "breach"
FORECAST = "forecast"
ANOMALY = "anomaly"
DRIFT = "drift"
REQUEST_BUDGET = "request_budget"
WARN_PREFIX = "warn:"

# Extrapolating a period's spend is noise until part of it has elapsed (1 min into a month is 1/43200).
FORECAST_MIN_ELAPSED = Decimal("0.1")
THRESHOLD_PLACES = Decimal("0.000001")


def level_rank(level: str) -> int:
    """Order of levels within one (rule, group, period): a higher one supersedes a lower one."""
    if level == FORECAST:
        return 1
    if level.startswith(WARN_PREFIX):
        return 100 + int(level[len(WARN_PREFIX) :])
    return 1000  # breach, anomaly


def severity_of(level: str) -> str:
    return "critical" if level in (BREACH, ANOMALY) else "warning"


@dataclass(frozen=True)
class Decision:
    """What a group's numbers say now: ``level`` None means nothing is wrong."""

    level: str | None
    value: Decimal
    threshold: Decimal | None = None
    detail: str = ""
    evidence: Mapping[str, object] | None = None


@dataclass(frozen=True)
class BudgetSpec:
    amount: Decimal
    warn_percents: Sequence[int] = ()
    forecast: bool = False


def evaluate_budget(spec: BudgetSpec, spend: Decimal, elapsed: Decimal) -> Decision:
    """The highest level the spend reaches: breach (spend >= amount), warn:<p>, then forecast."""
    if spend >= spec.amount:
        return Decision(BREACH, spend, spec.amount, "budget reached")
    for percent in sorted(set(spec.warn_percents), reverse=True):
        threshold = (spec.amount * percent / 100).quantize(THRESHOLD_PLACES)
        if spend >= threshold:
            return Decision(f"{WARN_PREFIX}{percent}", spend, threshold, f"{percent}% of budget reached")
    if spec.forecast and elapsed >= FORECAST_MIN_ELAPSED:
        projected = forecast(spend, elapsed)
        if projected >= spec.amount:
            return Decision(FORECAST, projected, spec.amount, "period-end forecast exceeds the budget")
    return Decision(None, spend)


@dataclass(frozen=True)
class AnomalySpec:
    factor: Decimal = Decimal(2)
    days: int = 7
    min_baseline: Decimal = Decimal(1)
    min_spend: Decimal = Decimal(5)
    same_weekday: bool = False


def baseline_days(spec: AnomalySpec, today: date) -> list[date]:
    """The full days the average is taken over, most recent first."""
    step = 7 if spec.same_weekday else 1
    return [today - timedelta(days=step * i) for i in range(1, spec.days + 1)]


@dataclass(frozen=True)
class Baseline:
    average: Decimal | None
    days: int = 0


def baseline_of(spec: AnomalySpec, today: date, daily: Mapping[date, Decimal], first_spend: date | None) -> Baseline:
    """Average daily spend over the baseline days on or after the group's first spend.

    ``first_spend`` None means the group spent before every baseline day (all of them count).
    """
    days = [d for d in baseline_days(spec, today) if first_spend is None or d >= first_spend]
    if not days:
        return Baseline(None, 0)
    total = sum((daily.get(d, Decimal(0)) for d in days), Decimal(0))
    return Baseline(total / len(days), len(days))


def evaluate_anomaly(spec: AnomalySpec, today_spend: Decimal, baseline: Baseline) -> Decision:
    """Anomalous when today's spend is above factor × the baseline average, and neither is tiny."""
    if baseline.average is None:
        return Decision(None, today_spend, detail="no history yet")
    threshold = (spec.factor * baseline.average).quantize(THRESHOLD_PLACES)
    if baseline.average < spec.min_baseline:
        return Decision(None, today_spend, threshold, "baseline under the minimum")
    if today_spend < spec.min_spend:
        return Decision(None, today_spend, threshold, "spend under the minimum")
    if today_spend > threshold:
        return Decision(
            ANOMALY, today_spend, threshold, f"above {spec.factor.normalize()}x the {baseline.days}-day average"
        )
    return Decision(None, today_spend, threshold)


@dataclass(frozen=True)
class DriftSpec:
    percent: Decimal | None = None
    amount: Decimal | None = None


def evaluate_drift(spec: DriftSpec, billed: Decimal, estimated: Decimal) -> Decision:
    """Drift when |billed - estimated| reaches every threshold that is set: ``percent`` of the bill
    and ``amount`` dollars (both set = both must hold, so a tiny day never pages). A bill of $0
    against a non-zero estimate is an infinite percentage. The value is the absolute difference.
    """
    difference = abs(billed - estimated)
    thresholds = []
    if spec.percent is not None:
        thresholds.append((abs(billed) * spec.percent / 100).quantize(THRESHOLD_PLACES))
    if spec.amount is not None:
        thresholds.append(spec.amount)
    if not thresholds:
        return Decision(None, difference, detail="no threshold set")
    threshold = max(thresholds)
    detail = f"billed ${billed.normalize():f}, Costwatch estimated ${estimated.normalize():f}"
    if difference > 0 and difference >= threshold:
        return Decision(DRIFT, difference, threshold, detail)
    return Decision(None, difference, threshold, detail)


@dataclass(frozen=True)
class RequestUsage:
    """One request's value of the budgeted metric (tokens, or USD of its priced calls)."""

    trace_id: str
    value: Decimal


def evaluate_request_budget(
    limit: Decimal, metric: str, requests: int, offending: Sequence[RequestUsage], unknown_cost: int = 0, worst: int = 5
) -> Decision:
    """One decision per (group, day): fires when at least one request of the day went over ``limit``.

    ``value`` is the number of offending requests (a count, never money), ``threshold`` the limit;
    the evidence names the ``worst`` requests. ``unknown_cost``: requests whose cost is not known
    (no priced call) for a cost budget; they are counted in the evidence, never as within budget.
    """
    ranked = sorted(offending, key=lambda r: (-r.value, r.trace_id))
    evidence = {
        "metric": metric,
        "limit": str(limit),
        "requests": requests,
        "offending": len(ranked),
        "unknown_cost_requests": unknown_cost,
        "worst": [{"trace_id": r.trace_id, "value": str(r.value)} for r in ranked[:worst]],
    }
    if not ranked:
        return Decision(None, Decimal(0), limit, "no request over the limit", evidence)
    return Decision(
        REQUEST_BUDGET,
        Decimal(len(ranked)),
        limit,
        f"{len(ranked)} of {requests} requests over {limit.normalize():f} {metric}",
        evidence,
    )
