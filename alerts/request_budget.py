"""Per-request budgets: "a summarize request may use at most 20k prompt tokens".

Read from the request rollups (``RequestRollup``: one row per trace, its counted calls summed and its
feature/endpoint resolved by ``costwatch.usage.rollups``) of the project's current local day: one
incident per (rule, feature or endpoint, day) counting the offending requests, never one per request.
Only those two scopes: a rule scoped by a custom dimension is refused (``alerts.scopes.check_scope``).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection

from alerts.evaluation import Decision, RequestUsage, evaluate_request_budget
from alerts.models import RequestMetric, Rule, Scope
from costwatch.projects.calendar import ProjectCalendar, Window
from costwatch.usage.models import RequestRollup

WORST = 5
_VALUE_SQL = {
    RequestMetric.INPUT_TOKENS: "(input_tokens + cache_read_tokens + cache_write_tokens)::numeric",
    RequestMetric.OUTPUT_TOKENS: "output_tokens::numeric",
    RequestMetric.TOTAL_TOKENS: "(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens)::numeric",
    # The priced calls' cost; a request with no priced call has no known cost (NULL), never $0.
    RequestMetric.COST: "CASE WHEN priced_calls > 0 THEN cost END",
}


def request_budget_decisions(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    """A decision per group (feature or endpoint) with requests today in the project's time zone.

    A cost budget counts a request whose known cost (its priced calls) is over the limit even when
    some of its calls are unpriced: the true cost is at least that. Requests without any priced call
    are reported as ``unknown_cost_requests``.
    """
    calendar = ProjectCalendar.of(rule.project)
    window = calendar.day(calendar.date_of(now))
    if rule.scope not in (Scope.FEATURE, Scope.ENDPOINT) or rule.request_limit is None or not rule.request_metric:
        return window, {}
    column = rule.scope  # the RequestRollup column: feature | endpoint
    value_sql = _VALUE_SQL[RequestMetric(rule.request_metric)]
    only = "AND r.{column} = %(key)s".format(column=column) if rule.scope_value else ""
    sql = f"""
        SELECT key, count(*), count(*) FILTER (WHERE v IS NULL),
               array_agg(trace_id ORDER BY v DESC, trace_id) FILTER (WHERE v > %(limit)s),
               array_agg(v ORDER BY v DESC, trace_id) FILTER (WHERE v > %(limit)s)
        FROM (SELECT r.{column} AS key, r.trace_id, {value_sql} AS v
              FROM {RequestRollup._meta.db_table} r
              WHERE r.project_id = %(project)s AND r.first_at >= %(start)s AND r.first_at < %(end)s
                AND r.{column} <> '' {only}) AS requests
        GROUP BY key"""
    params = {"project": rule.project_id, "start": window.start, "end": window.end, "limit": rule.request_limit,
              "key": rule.scope_value}
    decisions: dict[str, Decision] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for key, requests, unknown, traces, values in cursor.fetchall():
            offending = [RequestUsage(t, Decimal(v)) for t, v in zip(traces or [], values or [])]
            decisions[key] = evaluate_request_budget(rule.request_limit, rule.request_metric, requests, offending,
                                                     unknown if rule.request_metric == RequestMetric.COST else 0,
                                                     WORST)
    return window, decisions
