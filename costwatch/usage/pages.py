"""Cost queries the web pages need beyond ``queries.py``: per-day series, drill-down breakdowns, recent requests.

Same semantics as ``queries.cost_rows``: rollups for a single dimension, the effective (de-duplicated,
attribution-resolved) raw calls when a breakdown cuts across dimensions. Every query starts from the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q

from costwatch.projects.models import Project
from costwatch.usage.models import CustomDimension, Dimension, LlmCall, RequestRollup, RollupHour
from costwatch.usage.queries import (
    EFFECTIVE_COLUMN,
    METRICS,
    RAW_SUMS,
    ROLLUP_SUMS,
    CostRow,
    Period,
    QueryError,
    cost_rows,
    dimension_key_sql,
)
from costwatch.usage.rollups import effective_calls_sql

DRILL_DIMENSIONS = ("user", "feature", "endpoint", "model")
CUSTOM_ROLLUP = re.compile(r"^dim:[0-9]+$")  # CustomDimension.rollup_dimension
# Dimensions whose requests RequestRollup records, so a drill-down can start from that request's traces.
_REQUEST_COLUMN = {"user": '"user"', "feature": "feature", "endpoint": "endpoint"}
# The calls that may have this effective value (a superset; the exact test on eff follows). They
# mirror the e_* expressions of rollups.effective_calls_sql: a call's own value wins, else its
# trace's span attribution (for endpoints the trace's http.route wins over the call's own).
_CANDIDATES = {
    "model": "COALESCE(NULLIF(c.price_key, ''), NULLIF(c.model, ''), '(unknown)') = %(key)s",
    "feature": """(c.feature = %(key)s OR (c.feature = '' AND c.trace_id IN (
        SELECT trace_id FROM usage_spanattribution WHERE project_id = %(project)s AND feature = %(key)s)))""",
    "endpoint": """(c.endpoint = %(key)s OR c.trace_id IN (
        SELECT trace_id FROM usage_spanattribution
        WHERE project_id = %(project)s AND (route = %(key)s OR root_name = %(key)s)))""",
}


@dataclass(frozen=True)
class DayCost:
    day: date
    key: str
    cost_usd: Decimal


def _check_dimension(dimension: str) -> None:
    if dimension not in DRILL_DIMENSIONS:
        raise QueryError(f"dimension={dimension!r} is not one of {', '.join(DRILL_DIMENSIONS)}")


def daily_cost_by(project: Project, dimension: str, period: Period) -> list[DayCost]:
    """Cost per local day and group of one dimension (e.g. per day per model), from the rollups."""
    _check_dimension(dimension)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (hour AT TIME ZONE %s)::date AS d, key, COALESCE(sum(cost), 0) FROM usage_rolluphour
               WHERE project_id = %s AND dimension = %s AND hour >= %s AND hour < %s
               GROUP BY d, key ORDER BY d, key""",
            [project.timezone, project.pk, dimension, period.start, period.end],
        )
        return [DayCost(d, k, c) for d, k, c in cursor.fetchall()]


def daily_rows_of(project: Project, dimension: str, key: str, period: Period) -> list[CostRow]:
    """One row per local day (key ``YYYY-MM-DD``) for one group, e.g. one user's spend per day.

    ``dimension`` is a rollup dimension: a built-in one, or a custom dimension's ``dim:<id>``."""
    if dimension != Dimension.TOTAL and not CUSTOM_ROLLUP.match(dimension):
        _check_dimension(dimension)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT to_char(hour AT TIME ZONE %s, 'YYYY-MM-DD') AS k, {ROLLUP_SUMS} FROM usage_rolluphour
                WHERE project_id = %s AND dimension = %s AND key = %s AND hour >= %s AND hour < %s
                GROUP BY k ORDER BY k""",
            [project.timezone, project.pk, dimension, key, period.start, period.end],
        )
        return [CostRow(row[0], **dict(zip(METRICS, row[1:]))) for row in cursor.fetchall()]


def breakdown_of(project: Project, dimension: str, key: str, group_by: str, period: Period) -> list[CostRow]:
    """One group's cost split by another dimension (e.g. one user's spend per model). Unordered.

    The result is ``cost_rows(project, group_by, period, {dimension: key})``, computed over a
    narrower scan: only the calls that can belong to the group (a call's own value, else its
    trace's, decides), so the attribution work is done for that group's calls alone.
    ``cost_rows`` narrows a user's calls by index itself.
    """
    _check_dimension(dimension)
    if group_by not in DRILL_DIMENSIONS or group_by == dimension:
        raise QueryError(f"group_by={group_by!r} must be another of {', '.join(DRILL_DIMENSIONS)}")
    if dimension == "user":
        return cost_rows(project, group_by, period, {dimension: key})
    params: dict[str, Any] = {"project": project.pk, "start": period.start, "end": period.end, "key": key}
    where = "c.started_at >= %(start)s AND c.started_at < %(end)s AND " + _CANDIDATES[dimension]
    sql = (
        effective_calls_sql(where)
        + f"""
        SELECT {EFFECTIVE_COLUMN[group_by]} AS k, {RAW_SUMS} FROM eff
        WHERE counted AND {EFFECTIVE_COLUMN[dimension]} = %(key)s GROUP BY k"""
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [CostRow(row[0], **dict(zip(METRICS, row[1:]))) for row in cursor.fetchall()]


def recent_requests(project: Project, dimension: str, key: str, period: Period, limit: int = 25) -> list[RequestRollup]:
    """The latest requests of one group in the period, newest first."""
    _check_dimension(dimension)
    requests = RequestRollup.objects.filter(project=project, first_at__gte=period.start, first_at__lt=period.end)
    if dimension in _REQUEST_COLUMN:
        return list(requests.filter(**{dimension: key}).order_by("-first_at")[:limit])
    # A model is recorded per call: the effective model is the price key, else the reported name.
    model = Q(price_key=key) | Q(price_key="", model=key) if key != "(unknown)" else Q(price_key="", model="")
    traces: list[str] = []
    calls = (
        LlmCall.objects.filter(model, project=project, started_at__gte=period.start, started_at__lt=period.end)
        .order_by("-started_at")
        .values_list("trace_id", flat=True)
    )
    for trace in calls[: limit * 20]:
        if trace not in traces:
            traces.append(trace)
        if len(traces) == limit:
            break
    return list(RequestRollup.objects.filter(project=project, trace_id__in=traces).order_by("-first_at"))


def recent_requests_with_value(
    project: Project, dimension: CustomDimension, key: str, period: Period, limit: int = 25
) -> list[RequestRollup]:
    """The latest requests (by first call, newest first) with a counted call whose value of a custom
    dimension is ``key`` ('' = not set, ``(other)`` = past the daily limit), as ``cost_rows`` keys it.

    The hour rollups say which latest hours hold ``limit`` of that value's requests; only the calls
    from there to the period's end are resolved, not the whole period's."""
    hours = (
        RollupHour.objects.filter(
            project=project, dimension=dimension.rollup_dimension, key=key, hour__gte=period.start, hour__lt=period.end
        )
        .order_by("-hour")
        .values_list("hour", "requests")
    )
    since, seen = None, 0
    for hour, requests in hours.iterator():
        since, seen = hour, seen + requests
        if seen >= limit:
            break
    if since is None:
        return []
    pk = int(dimension.pk)
    params: dict[str, Any] = {
        "project": project.pk,
        "start": since,
        "end": period.end,
        "tz": project.timezone,
        "dims": [str(pk)],
        "key": key,
        "limit": limit,
    }
    sql = (
        effective_calls_sql("c.started_at >= %(start)s AND c.started_at < %(end)s", dimensions=True)
        + f"""
        SELECT eff.trace_id FROM eff
        LEFT JOIN eff_dims dim{pk} ON dim{pk}.id = eff.id AND dim{pk}.dim = '{pk}'
        WHERE counted AND {dimension_key_sql(dimension, f"dim{pk}")} = %(key)s
        GROUP BY eff.trace_id ORDER BY min(eff.first_at) DESC, eff.trace_id LIMIT %(limit)s"""
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        traces = [row[0] for row in cursor.fetchall()]
    return list(RequestRollup.objects.filter(project=project, trace_id__in=traces).order_by("-first_at"))


def has_calls(project: Project) -> bool:
    """Whether the project has received any LLM call yet (an empty project shows how to send data)."""
    return LlmCall.objects.filter(project=project).exists()
