"""The savings advisor's reads and writes: rollup totals, bounded samples, settings, alternatives.

Cost of one computation: one rollup query per scope (``cost_rows``), one query picking at most
``sample_requests`` recent requests per group (``RequestRollup``, by its (project, first_at) index)
and one query over those requests' calls (``effective_calls_sql``, counted calls only). It never
scans all raw calls of the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone

from costwatch.pricing.cost import TokenCounts
from costwatch.projects.calendar import ProjectCalendar
from costwatch.projects.models import Project
from costwatch.savings import prices
from costwatch.savings.models import ApprovedAlternative, SavingsSettings
from costwatch.savings.opportunities import (
    KINDS,
    GroupInput,
    GroupTotals,
    Opportunity,
    SampledCall,
    SampledRequest,
    Thresholds,
    opportunities_of,
    ranked,
)
from costwatch.usage.queries import Period, cost_rows
from costwatch.usage.rollups import effective_calls_sql

SCOPES = ("feature", "endpoint")
PERIODS = {"7d": 7, "14d": 14, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "30d"
TRACES_PER_QUERY = 250


class SavingsError(ValueError):
    """Bad input (period, scope, kind, threshold, alternative); the message says which and why."""


@dataclass(frozen=True)
class SavingsReport:
    period: Period
    period_days: int
    scope: str
    thresholds: Thresholds
    opportunities: list[Opportunity]
    groups: int  # groups examined
    unsampled: list[str] = field(default_factory=list)  # groups none of whose requests is theirs (see README)

    @property
    def total_per_month(self) -> Decimal:
        """Sum of the counted estimates (what-ifs without approval, realized and unavailable excluded)."""
        return sum(
            (
                o.saving_per_month
                for o in self.opportunities
                if o.status == "estimate" and o.saving_per_month is not None
            ),
            Decimal(0),
        )


def thresholds_of(project: Project) -> Thresholds:
    stored = SavingsSettings.objects.filter(project=project).values_list("thresholds", flat=True).first()
    return Thresholds.from_mapping(stored or {})


def save_thresholds(project: Project, values: dict[str, object]) -> Thresholds:
    """Replace the project's threshold overrides; raises ``SavingsError`` on an unknown or bad field."""
    try:
        thresholds = Thresholds.from_mapping(values)
    except ValueError as exc:
        raise SavingsError(str(exc)) from None
    stored = {k: v for k, v in thresholds.as_json().items() if k in values}
    SavingsSettings.objects.update_or_create(project=project, defaults={"thresholds": stored})
    return thresholds


def approve_alternative(
    project: Project, feature: str, provider: str, model: str, note: str = ""
) -> ApprovedAlternative:
    """Record ``provider/model`` as approved for ``feature``; it must be a catalog model with a price."""
    if not feature or not model or not provider:
        raise SavingsError("feature, provider and model are required")
    today = timezone.now().date()
    if not any(o.provider == provider and o.model == model for o in prices.catalog_options(project, today)):
        raise SavingsError(f"{provider}/{model} has no standard price in the catalog today")
    alternative, _ = ApprovedAlternative.objects.update_or_create(
        project=project, feature=feature, provider=provider, model=model, defaults={"note": note[:500]}
    )
    return alternative


def period_for(project: Project, period: str | None = None, *, now: datetime | None = None) -> Period:
    """The last N whole local days including today (``7d`` … ``90d``), as UTC instants."""
    name = period or DEFAULT_PERIOD
    if name not in PERIODS:
        raise SavingsError(f"period must be one of {', '.join(PERIODS)}")
    return Period(*ProjectCalendar.of(project).last_days(PERIODS[name], now or timezone.now()))


def _days(project: Project, period: Period) -> int:
    calendar = ProjectCalendar.of(project)
    start, end = calendar.date_of(period.start), calendar.date_of(period.end)
    return max(1, (end - start).days)


_PICK_REQUESTS = """
SELECT g.key, r.trace_id, r.first_at, r.cost, r.priced_calls, r.llm_calls, r.input_tokens, r.cache_read_tokens,
       r.cache_write_tokens, r.output_tokens
FROM unnest(%(keys)s::text[]) AS g(key)
CROSS JOIN LATERAL (
    SELECT trace_id, first_at, cost, priced_calls, llm_calls, input_tokens, cache_read_tokens, cache_write_tokens,
           output_tokens
    FROM usage_requestrollup
    WHERE project_id = %(project)s AND md5({column}) = md5(g.key) AND {column} = g.key
      AND first_at >= %(start)s AND first_at < %(end)s
    ORDER BY md5({column}) DESC, first_at DESC
    LIMIT %(limit)s
) AS r
"""

_SAMPLE_CALLS = """
SELECT eff.{column}, eff.trace_id, eff.span_id, eff.started_at, eff.e_model, eff.e_provider, eff.e_session,
       eff.input_tokens, eff.cache_read_tokens, eff.cache_write_tokens, eff.cache_write_1h_tokens,
       eff.output_tokens, eff.reasoning_tokens, eff.cost_total, eff.list_cost, eff.usage_state,
       eff.response_cache_hit, eff.price_id,
       NOT EXISTS (SELECT 1 FROM usage_spanattribution s WHERE s.project_id = %(project)s
                   AND s.trace_id = eff.trace_id AND s.route <> '') AS background
FROM eff
WHERE eff.counted AND eff.{column} = ANY(%(keys)s::text[])
ORDER BY eff.started_at, eff.span_id
"""


def _samples(
    project: Project, scope: str, keys: list[str], period: Period, limit: int
) -> tuple[dict[str, list[SampledCall]], dict[str, list[SampledRequest]]]:
    params: dict[str, Any] = {
        "project": project.pk,
        "keys": keys,
        "start": period.start,
        "end": period.end,
        "limit": limit,
    }
    requests: dict[str, list[SampledRequest]] = {k: [] for k in keys}
    with connection.cursor() as cursor:
        cursor.execute(_PICK_REQUESTS.format(column=scope), params)
        for key, trace, first_at, cost, priced, call_count, inp, cread, cwrite, out in cursor.fetchall():
            requests[key].append(
                SampledRequest(
                    trace,
                    first_at,
                    cost if priced == call_count and call_count else None,
                    inp,
                    cread,
                    cwrite,
                    out,
                    call_count,
                )
            )
        traces = sorted({r.trace_id for rows in requests.values() for r in rows})
        calls: dict[str, list[SampledCall]] = {k: [] for k in keys}
        if not traces:
            return calls, requests
        where = "c.trace_id = ANY(%(traces)s) AND c.started_at >= %(start)s AND c.started_at < %(end)s"
        sql = effective_calls_sql(where) + _SAMPLE_CALLS.format(column=f"e_{scope}")
        rows = []
        # In slices: the planner cannot see how many traces the CTE chain holds and joins each call to
        # the traces' first-call times in a nested loop, whose cost grows with calls × traces per query.
        for start in range(0, len(traces), TRACES_PER_QUERY):
            cursor.execute(sql, {**params, "traces": traces[start : start + TRACES_PER_QUERY]})
            rows += cursor.fetchall()
        rows.sort(key=lambda row: (row[3], row[2]))
    price_rows = prices.rows_by_price_id(row[17] for row in rows if row[17] is not None)
    for (
        key,
        trace,
        span,
        started,
        model,
        provider,
        session,
        inp,
        cread,
        cwrite,
        cwrite1h,
        out,
        reasoning,
        cost,
        list_cost,
        state,
        hit,
        price_id,
        background,
    ) in rows:
        counts = TokenCounts(
            input=inp, cache_read=cread, cache_write=cwrite, cache_write_1h=cwrite1h, output=out, reasoning=reasoning
        )
        calls[key].append(
            SampledCall(
                trace,
                span,
                started,
                model,
                provider,
                session,
                counts,
                cost,
                list_cost,
                state != "unknown",
                hit,
                background,
                price_rows.get(price_id),
            )
        )
    return calls, requests


def savings_report(
    project: Project,
    *,
    period: Period,
    scope: str = "feature",
    key: str | None = None,
    kinds: list[str] | None = None,
    thresholds: Thresholds | None = None,
) -> SavingsReport:
    """The ranked opportunities of the project's ``scope`` groups (all, or the one ``key``) over ``period``.

    Raises ``SavingsError`` for an unknown scope or kind.
    """
    if scope not in SCOPES:
        raise SavingsError(f"scope must be one of {', '.join(SCOPES)}")
    kinds = kinds or list(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise SavingsError(f"unknown kind {', '.join(unknown)}; use {', '.join(KINDS)}")
    thresholds = thresholds or thresholds_of(project)
    days = _days(project, period)
    rows = [r for r in cost_rows(project, scope, period) if r.llm_calls and (key is None or r.key == key)]
    rows.sort(key=lambda r: (-(r.known_cost_usd or Decimal(0)), r.key))
    rows = rows[: thresholds.max_groups]
    if not rows:
        return SavingsReport(period, days, scope, thresholds, [], 0)
    calls, requests = _samples(project, scope, [r.key for r in rows], period, thresholds.sample_requests)
    options = prices.catalog_options(project, ProjectCalendar.of(project).date_of(period.end) - timedelta(days=1))
    approved: dict[str, list[tuple[str, str]]] = {}
    if scope == "feature":
        for alt in ApprovedAlternative.objects.filter(project=project):
            approved.setdefault(alt.feature, []).append((alt.provider, alt.model))
    found: list[Opportunity] = []
    batch_pricer = prices.BatchPricer()
    for row in rows:
        totals = GroupTotals(
            scope,
            row.key,
            row.cost_usd,
            row.llm_calls,
            row.priced_calls,
            row.unpriced_calls,
            row.unknown_usage_calls,
            row.estimated_calls,
            row.requests,
            row.response_cache_hits,
        )
        group = GroupInput(totals, calls[row.key], requests[row.key], tuple(approved.get(row.key, ())))
        found += opportunities_of(
            group,
            period_days=Decimal(days),
            options=options,
            thresholds=thresholds,
            batch_cost=batch_pricer,
            kinds=kinds,
        )
    unsampled = sorted(row.key for row in rows if not calls[row.key])
    return SavingsReport(period, days, scope, thresholds, ranked(found), len(rows), unsampled)


def savings_report_for_query(project: Project, query: QueryDict) -> SavingsReport:
    """The report a request's filters ask for (the API's and the Savings page's query string):
    ``period`` (7d, 14d, 30d, 90d), ``scope`` (feature, endpoint), ``feature`` or ``endpoint`` (one
    group; naming it sets the scope) and ``kind`` (repeated or comma-separated).

    Raises ``SavingsError`` for both a feature and an endpoint, an unknown period, scope or kind.
    """
    feature, endpoint = query.get("feature"), query.get("endpoint")
    if feature is not None and endpoint is not None:
        raise SavingsError("give feature or endpoint, not both (opportunities are per feature or per endpoint)")
    scope = (
        "endpoint" if endpoint is not None else ("feature" if feature is not None else query.get("scope", "feature"))
    )
    kinds = [k for value in query.getlist("kind") for k in value.split(",") if k] or None
    return savings_report(
        project,
        period=period_for(project, query.get("period")),
        scope=scope,
        key=feature if feature is not None else endpoint,
        kinds=kinds,
    )


@transaction.atomic
def remove_alternative(project: Project, alternative_id: int) -> bool:
    return ApprovedAlternative.objects.filter(project=project, pk=alternative_id).delete()[0] > 0
