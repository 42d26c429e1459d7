"""Costwatch's own estimate of a provider's spend per UTC day, read from the hourly rollups.

The providers bill in UTC days. The hour rollups are the project's local hours: in whole-hour UTC
offsets they are UTC hours, so the 24 hours of a UTC day are exactly the bill's day; in :30 / :45
offsets (Asia/Kolkata) each UTC day is read as the buckets starting in it, shifted by that fraction.
This is the one place that reads the estimate; when the rollups change shape, change it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection

from costwatch.projects.calendar import UTC_CALENDAR
from costwatch.projects.models import Project
from costwatch.usage.models import RollupHour
from costwatch.usage.rollups import effective_calls_sql


@dataclass(frozen=True)
class Estimate:
    """Costwatch's calls of one UTC day (or one model of it) for a bill's providers.

    ``cost_usd``: sum of the priced calls; ``None`` when there were calls but none is priced
    (unknown, never $0). ``unknown_usage_calls``: calls whose token usage is unknown (cost not included).
    """

    cost_usd: Decimal | None
    llm_calls: int
    unpriced_calls: int
    unknown_usage_calls: int | None

    @property
    def complete(self) -> bool:
        """Every call is priced with known usage (a partial sum is still shown, marked incomplete)."""
        return self.unpriced_calls == 0 and not self.unknown_usage_calls


NO_CALLS = Estimate(Decimal(0), 0, 0, 0)


def _estimate(cost: Decimal | None, calls: int, priced: int, unpriced: int, unknown: int) -> Estimate:
    return Estimate(cost if priced > 0 else (Decimal(0) if calls == 0 else None), calls, unpriced, unknown)


def estimates_by_utc_day(
    project: Project, providers: Sequence[str], first_day: date, last_day: date
) -> dict[date, Estimate]:
    """Per UTC day in first_day..last_day (inclusive) with calls: the rollups' provider groups summed.

    ``providers`` are Costwatch ``provider`` values (e.g. ``("openai",)``). Days without calls
    are absent (read them as ``NO_CALLS``).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (hour AT TIME ZONE 'UTC')::date AS day, sum(cost), COALESCE(sum(llm_calls), 0)::bigint,
                       COALESCE(sum(priced_calls), 0)::bigint, COALESCE(sum(unpriced_calls), 0)::bigint,
                       COALESCE(sum(unknown_usage_calls), 0)::bigint
                FROM {RollupHour._meta.db_table}
                WHERE project_id = %s AND dimension = 'provider' AND key = ANY(%s)
                  AND hour >= %s AND hour < %s
                GROUP BY day""",
            [project.pk, list(providers), *UTC_CALENDAR.span(first_day, last_day)],
        )
        return {
            day: _estimate(cost, calls, priced, unpriced, unknown)
            for day, cost, calls, priced, unpriced, unknown in cursor
        }


def estimates_by_model(
    project: Project, providers: Sequence[str], first_day: date, last_day: date
) -> dict[tuple[date, str], Estimate]:
    """Per (UTC day, model as the provider reported it) — the name bills use — from the raw calls.

    A drill-down (raw calls, de-duplicated like the rollups): keep the range short.
    """
    sql = effective_calls_sql(
        "c.started_at >= %(start)s AND c.started_at < %(end)s AND c.provider = ANY(%(providers)s)"
    )
    sql += """SELECT (started_at AT TIME ZONE 'UTC')::date AS day,
                     COALESCE(NULLIF(model, ''), NULLIF(request_model, ''), '(unknown)') AS m,
                     sum(cost_total), count(*), count(*) FILTER (WHERE cost_total IS NOT NULL),
                     count(*) FILTER (WHERE cost_total IS NULL AND usage_state <> 'unknown'),
                     count(*) FILTER (WHERE usage_state = 'unknown')
              FROM eff WHERE counted GROUP BY day, m"""
    start, end = UTC_CALENDAR.span(first_day, last_day)
    params: dict[str, Any] = {"project": project.pk, "providers": list(providers), "start": start, "end": end}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            (day, model): _estimate(cost, calls, priced, unpriced, unknown)
            for day, model, cost, calls, priced, unpriced, unknown in cursor
        }
