"""What a rule says now: its current period and a decision per group.

The numbers are read through the other apps' query functions (spend and requests from
``costwatch.usage.spend``, bills from ``costwatch.billing.services.reconcile``), never their tables,
and judged by the pure functions of ``alerts.evaluation``. Nothing here writes; moving incidents to
match the decisions is ``alerts.incidents``.

* **budget**: spend of each group over the rule's calendar period in the project's time zone.
* **anomaly**: today's spend of each group against its trailing daily average; only groups that
  could fire (today's spend over the minimum and over factor × minimum baseline) get their history
  read, so thousands of quiet groups cost one query.
* **drift**: a provider's bill against Costwatch's estimate, per provider and complete UTC day.
* **request_budget** ("a summarize request may use at most 20k prompt tokens"): the requests of each
  feature or endpoint on the project's current local day, read from the request rollups; one
  decision per group counting the offending requests, never one per request. A cost budget counts
  a request whose known cost (its priced calls) is over the limit even when some of its calls are
  unpriced: the true cost is at least that. Requests without any priced call are reported as
  ``unknown_cost_requests``. Only those two scopes: a custom dimension is refused for it
  (``alerts.scopes.check_scope``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from alerts.evaluation import (
    AnomalySpec,
    BudgetSpec,
    Decision,
    DriftSpec,
    RequestUsage,
    baseline_days,
    baseline_of,
    evaluate_anomaly,
    evaluate_budget,
    evaluate_drift,
    evaluate_request_budget,
)
from alerts.models import RequestMetric, Rule, RuleKind, Scope
from alerts.scopes import spend_groups
from costwatch.billing.services import reconcile
from costwatch.projects.calendar import UTC_CALENDAR, ProjectCalendar, Window
from costwatch.usage.spend import (
    daily_spend,
    first_spend_days,
    requests_over,
    spend_by_group,
)

DRIFT_WINDOW_KEY = "bill-drift"
WORST_REQUESTS = 5  # offending requests an incident names


def budget_spec(rule: Rule) -> BudgetSpec:
    return BudgetSpec(rule.amount or Decimal(0), tuple(int(p) for p in rule.warn_percents or ()), rule.forecast)


def anomaly_spec(rule: Rule) -> AnomalySpec:
    return AnomalySpec(rule.anomaly_factor, rule.anomaly_days, rule.min_baseline, rule.min_spend, rule.same_weekday)


def decide(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    """The rule's current period and a decision for every group with numbers in it."""
    if rule.kind == RuleKind.DRIFT:
        return drift_decisions(rule, now)
    if rule.kind == RuleKind.REQUEST_BUDGET:
        return request_budget_decisions(rule, now)
    if rule.kind == RuleKind.BUDGET:
        return budget_decisions(rule, now)
    return anomaly_decisions(rule, now)


def budget_decisions(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    project = rule.project
    window = ProjectCalendar.of(project).window(rule.period, now)
    if rule.amount is None or rule.amount <= 0:  # not a usable budget (validate_rule refuses these)
        return window, {}
    spec = budget_spec(rule)
    elapsed = window.elapsed_fraction(now)
    spend = spend_by_group(project, spend_groups(rule), window.start, window.end)
    return window, {k: evaluate_budget(spec, s, elapsed) for k, s in spend.items()}


def anomaly_decisions(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    project = rule.project
    groups = spend_groups(rule)
    spec = anomaly_spec(rule)
    calendar = ProjectCalendar.of(project)
    today = calendar.date_of(now)
    window = calendar.day(today)
    spend_today = spend_by_group(project, groups, window.start, window.end)
    candidates = sorted(
        k for k, s in spend_today.items() if s >= spec.min_spend and s > spec.factor * spec.min_baseline
    )
    if not candidates:
        return window, {}
    days = [calendar.day(d) for d in baseline_days(spec, today)]
    history = daily_spend(project, groups, [(d.start, d.end) for d in days], candidates)
    firsts = first_spend_days(project, groups, candidates)
    return window, {
        k: evaluate_anomaly(spec, spend_today[k], baseline_of(spec, today, history[k], firsts[k] or today))
        for k in candidates
    }


def drift_decisions(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    """A decision per provider-day (group ``"<provider> <UTC day>"``) of the last ``drift_days``
    complete UTC days that has a USD bill and a known estimate (costwatch.billing.reconcile)."""
    today = UTC_CALENDAR.date_of(now)
    first = today - timedelta(days=rule.drift_days)
    window = Window(DRIFT_WINDOW_KEY, UTC_CALENDAR.midnight(first), UTC_CALENDAR.midnight(today))
    spec = DriftSpec(rule.drift_percent, rule.drift_usd)
    providers = [rule.drift_provider] if rule.drift_provider else None
    decisions = {}
    for row in reconcile(rule.project, first, today - timedelta(days=1), providers=providers, now=now):
        if row.status == "ok":
            assert row.billed is not None and row.estimate.cost_usd is not None
            decisions[f"{row.provider} {row.day.isoformat()}"] = evaluate_drift(spec, row.billed, row.estimate.cost_usd)
    return window, decisions


def request_budget_decisions(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    """A decision per feature or endpoint with requests today in the project's time zone."""
    calendar = ProjectCalendar.of(rule.project)
    window = calendar.day(calendar.date_of(now))
    if rule.scope not in (Scope.FEATURE, Scope.ENDPOINT) or rule.request_limit is None or not rule.request_metric:
        return window, {}
    counts_unknown = rule.request_metric == RequestMetric.COST
    groups = requests_over(
        rule.project,
        rule.scope,
        rule.request_metric,
        rule.request_limit,
        window.start,
        window.end,
        key=rule.scope_value,
    )
    return window, {
        g.key: evaluate_request_budget(
            rule.request_limit,
            rule.request_metric,
            g.requests,
            [RequestUsage(r.trace_id, r.value) for r in g.over],
            g.unknown if counts_unknown else 0,
            WORST_REQUESTS,
        )
        for g in groups
    }
