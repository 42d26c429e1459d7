"""Spend as other apps read it: plain functions over the rollups, returning plain values.

Alerting reads spend only through here, never the rollup tables, so their layout can change with
this module. Amounts are exact USD ``Decimal`` sums over the priced calls; a window is
``[start, end)`` in UTC and counts an hour rollup when its hour starts inside it.

**Groups.** ``Groups(TOTAL)`` is the project as one group (key ``''``); ``Groups("user")`` each
user, ``Groups("user", "alice")`` only alice; the other built-in dimensions likewise, and a custom
dimension by its rollup dimension (``Groups("dim:3")``, ``CustomDimension.rollup_dimension``).
A per-value read never returns the key ``''`` (calls without a value) nor, for a custom dimension,
``(other)`` (the values past its daily limit, many summed: not one value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from costwatch.projects.models import Project
from costwatch.usage.dimensions import OTHER
from costwatch.usage.models import Dimension, RequestRollup, RollupHour

TOTAL = Dimension.TOTAL.value


@dataclass(frozen=True)
class Groups:
    """Which rollup groups a read covers: each value of ``dimension``, or only ``key``.

    ``dimension`` is ``TOTAL`` (the project, one group keyed ``''``), a built-in dimension (user,
    feature, endpoint, model, ...) or a custom dimension's ``dim:<id>``; ``key`` ``''`` means each.
    """

    dimension: str
    key: str = ""


def _hours(project: Project, groups: Groups) -> QuerySet[RollupHour]:
    if groups.dimension == TOTAL:
        return RollupHour.objects.filter(project=project, dimension=TOTAL, key="")
    rows = RollupHour.objects.filter(project=project, dimension=groups.dimension).exclude(key="")
    if groups.dimension not in Dimension.values:  # a custom dimension: (other) is many values
        rows = rows.exclude(key=OTHER)
    return rows.filter(key=groups.key) if groups.key else rows


def spend_by_group(
    project: Project, groups: Groups, start: datetime, end: datetime, keys: Iterable[str] | None = None
) -> dict[str, Decimal]:
    """Spend per group key over ``[start, end)``, only groups with rollups in it (and among ``keys``
    when given)."""
    rows = _hours(project, groups).filter(hour__gte=start, hour__lt=end)
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    return {r["key"]: r["spend"] for r in rows.values("key").annotate(spend=Sum("cost")).order_by()}


def daily_spend(
    project: Project, groups: Groups, days: Sequence[tuple[datetime, datetime]], keys: Sequence[str]
) -> dict[str, dict[date, Decimal]]:
    """Spend per key per local day (the project's time zone) over the given day windows, summed in
    the database; every key of ``keys`` is in the answer, days without rollups are absent."""
    ranges = Q()
    for start, end in days:
        ranges |= Q(hour__gte=start, hour__lt=end)
    rows = (
        _hours(project, groups)
        .filter(ranges, key__in=keys)
        .annotate(day=TruncDate("hour", tzinfo=project.tz))
        .values("key", "day")
        .annotate(spend=Sum("cost"))
        .order_by()
    )
    out: dict[str, dict[date, Decimal]] = {k: {} for k in keys}
    for r in rows:
        out[r["key"]][r["day"]] = r["spend"]
    return out


def first_spend_days(project: Project, groups: Groups, keys: Sequence[str]) -> dict[str, date | None]:
    """The local day of each key's first priced spend, None when it has none (one index probe a key)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT k, (SELECT min(hour) FROM {RollupHour._meta.db_table}
                           WHERE project_id = %s AND dimension = %s AND key = k AND cost > 0)
                FROM unnest(%s::text[]) AS k""",
            [project.pk, groups.dimension, list(keys)],
        )
        return {k: (first.astimezone(project.tz).date() if first else None) for k, first in cursor.fetchall()}


# --- Requests over a limit -------------------------------------------------------------------------

# What one request uses, from its request rollup (its counted calls summed). Prompt tokens are input
# + cache reads + cache writes; cost is the priced calls' cost, unknown (NULL, never $0) when the
# request has no priced call.
REQUEST_METRICS = {
    "input_tokens": "(input_tokens + cache_read_tokens + cache_write_tokens)::numeric",
    "output_tokens": "output_tokens::numeric",
    "total_tokens": "(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens)::numeric",
    "cost": "CASE WHEN priced_calls > 0 THEN cost END",
}
REQUEST_GROUPS = ("feature", "endpoint")


@dataclass(frozen=True)
class RequestUse:
    trace_id: str
    value: Decimal


@dataclass(frozen=True)
class RequestsOver:
    """One feature's (or endpoint's) requests in a window, measured against a limit."""

    key: str
    requests: int
    unknown: int  # requests whose metric is unknown (cost: no priced call)
    over: list[RequestUse]  # the requests above the limit, largest first (then by trace id)


def requests_over(
    project: Project, group: str, metric: str, limit: Decimal, start: datetime, end: datetime, key: str = ""
) -> list[RequestsOver]:
    """Per ``group`` value (``feature`` or ``endpoint``; only ``key`` when given) with requests whose
    first call is in ``[start, end)``: how many, how many have an unknown ``metric``, and those over
    ``limit``. Requests without a value of ``group`` are left out. Raises ``ValueError`` for another
    group or an unknown metric (``REQUEST_METRICS``)."""
    if group not in REQUEST_GROUPS or metric not in REQUEST_METRICS:
        raise ValueError(
            f"requests are grouped by {' or '.join(REQUEST_GROUPS)} and measured by "
            f"{', '.join(REQUEST_METRICS)}; got {group!r} and {metric!r}"
        )
    only = f"AND r.{group} = %(key)s" if key else ""
    sql = f"""
        SELECT key, count(*), count(*) FILTER (WHERE v IS NULL),
               array_agg(trace_id ORDER BY v DESC, trace_id) FILTER (WHERE v > %(limit)s),
               array_agg(v ORDER BY v DESC, trace_id) FILTER (WHERE v > %(limit)s)
        FROM (SELECT r.{group} AS key, r.trace_id, {REQUEST_METRICS[metric]} AS v
              FROM {RequestRollup._meta.db_table} r
              WHERE r.project_id = %(project)s AND r.first_at >= %(start)s AND r.first_at < %(end)s
                AND r.{group} <> '' {only}) AS requests
        GROUP BY key"""
    params: dict[str, Any] = {"project": project.pk, "start": start, "end": end, "limit": limit, "key": key}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            RequestsOver(k, requests, unknown, [RequestUse(t, Decimal(v)) for t, v in zip(traces or [], values or [])])
            for k, requests, unknown, traces, values in cursor.fetchall()
        ]
