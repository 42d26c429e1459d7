"""Recomputing rollups from raw calls. Every recompute replaces its rows, so it is idempotent.

A bucket is (project, UTC hour). The effective attribution of a call is its own value, else its
trace's (root span first, then the smallest span id that has one); the endpoint prefers the
http.route of a SERVER span. Sibling spans that record the same provider response
(same trace, same response id) count once: the one with the most tokens, then the smallest span id.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import OperationalError, connection, transaction

CLAIM_BATCH = 1  # one bucket per transaction: short locks, no lock-order cycles

_SCOPE_SELECT = """
    SELECT c.* FROM usage_llmcall c
    WHERE c.project_id = %(project)s AND {where}
      AND (c.response_id = '' OR NOT EXISTS (
          SELECT 1 FROM usage_llmcall d
          WHERE d.project_id = c.project_id AND d.trace_id = c.trace_id AND d.response_id = c.response_id
            AND d.span_id <> c.span_id
            AND ((d.input_tokens + d.cache_read_tokens + d.cache_write_tokens + d.cache_write_1h_tokens
                  + d.output_tokens, c.span_id)
                 > (c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens
                    + c.output_tokens, d.span_id))))

"""

_EFFECTIVE_CALLS = """
WITH scope_calls AS (
{scope}
),
attr AS (
    SELECT a.trace_id,
        (array_agg(a."user" ORDER BY a.is_root DESC, a.span_id) FILTER (WHERE a."user" <> ''))[1] AS "user",
        (array_agg(a.feature ORDER BY a.is_root DESC, a.span_id) FILTER (WHERE a.feature <> ''))[1] AS feature,
        (array_agg(a.session ORDER BY a.is_root DESC, a.span_id) FILTER (WHERE a.session <> ''))[1] AS session,
        (array_agg(a.route ORDER BY a.is_root DESC, a.span_id) FILTER (WHERE a.route <> ''))[1] AS route,
        (array_agg(a.root_name ORDER BY a.span_id) FILTER (WHERE a.root_name <> ''))[1] AS root_name
    FROM usage_spanattribution a
    WHERE a.project_id = %(project)s AND a.trace_id IN (SELECT trace_id FROM scope_calls)
    GROUP BY a.trace_id
),
firsts AS (
    SELECT trace_id, min(started_at) AS first_at
    FROM usage_llmcall
    WHERE project_id = %(project)s AND trace_id IN (SELECT trace_id FROM scope_calls)
    GROUP BY trace_id
),
eff AS (
    SELECT c.*,
        COALESCE(NULLIF(c."user", ''), a."user", '') AS e_user,
        COALESCE(NULLIF(c.feature, ''), a.feature, '') AS e_feature,
        COALESCE(a.route, NULLIF(c.endpoint, ''), a.root_name, '') AS e_endpoint,
        COALESCE(NULLIF(c.session, ''), a.session, '') AS e_session,
        COALESCE(NULLIF(c.price_key, ''), NULLIF(c.model, ''), '(unknown)') AS e_model,
        COALESCE(NULLIF(c.provider, ''), '(unknown)') AS e_provider,
        f.first_at
    FROM scope_calls c LEFT JOIN attr a USING (trace_id) JOIN firsts f USING (trace_id)
)
"""

def effective_calls_sql(where: str) -> str:
    """The CTE chain ending in ``eff``: de-duplicated calls matching ``where`` with attribution resolved."""
    return _EFFECTIVE_CALLS.format(scope=_SCOPE_SELECT.format(where=where))


# Recomputes first copy their calls into an analysed temp table: the newest hour is always past
# the table statistics, and a planner that expects one row there picks nested loops that take
# minutes on a busy hour.
_FROM_SCOPE_TABLE = _EFFECTIVE_CALLS.format(scope="    SELECT * FROM rollup_scope")


def _fill_scope(cursor, where: str, params: dict[str, object]) -> None:  # noqa: ANN001 - DB cursor
    cursor.execute("DROP TABLE IF EXISTS rollup_scope")
    cursor.execute(f"CREATE TEMP TABLE rollup_scope ON COMMIT DROP AS {_SCOPE_SELECT.format(where=where)}", params)
    cursor.execute("ANALYZE rollup_scope")


_HOUR_WHERE = "c.started_at >= %(start)s AND c.started_at < %(end)s"
_HOUR_INSERT = _FROM_SCOPE_TABLE + """
INSERT INTO usage_rolluphour (
    project_id, hour, dimension, key, cost, cost_input, cost_cache_read, cost_cache_write, cost_output,
    savings, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
    llm_calls, requests, errors, response_cache_hits, unpriced_calls, users)
SELECT * FROM (
    SELECT %(project)s, %(start)s::timestamptz,
        CASE WHEN GROUPING(e_user) = 0 THEN 'user'
             WHEN GROUPING(e_feature) = 0 THEN 'feature'
             WHEN GROUPING(e_endpoint) = 0 THEN 'endpoint'
             WHEN GROUPING(e_model) = 0 THEN 'model'
             WHEN GROUPING(e_provider) = 0 THEN 'provider'
             WHEN GROUPING(e_session) = 0 THEN 'conversation'
             ELSE 'total' END AS dimension,
        COALESCE(e_user, e_feature, e_endpoint, e_model, e_provider, e_session, '') AS key,
        COALESCE(sum(cost_total), 0), COALESCE(sum(cost_input), 0), COALESCE(sum(cost_cache_read), 0),
        COALESCE(sum(cost_cache_write), 0), COALESCE(sum(cost_output), 0),
        COALESCE(sum(list_cost - cost_total) FILTER (WHERE list_cost IS NOT NULL), 0),
        sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens + cache_write_1h_tokens),
        sum(output_tokens), sum(reasoning_tokens),
        count(*), count(DISTINCT trace_id) FILTER (WHERE first_at >= %(start)s),
        count(*) FILTER (WHERE is_error), count(*) FILTER (WHERE response_cache_hit),
        count(*) FILTER (WHERE cost_total IS NULL), count(DISTINCT NULLIF(e_user, ''))
    FROM eff
    GROUP BY GROUPING SETS ((), (e_user), (e_feature), (e_endpoint), (e_model), (e_provider), (e_session))
    HAVING count(*) > 0
) AS grouped
WHERE NOT (grouped.dimension = 'conversation' AND grouped.key = '')
"""

_REQUEST_WHERE = "c.trace_id = ANY(%(traces)s)"
_REQUEST_INSERT = _FROM_SCOPE_TABLE + """
INSERT INTO usage_requestrollup (
    project_id, trace_id, first_at, last_at, "user", feature, endpoint, session, cost,
    input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, llm_calls, unpriced_calls)
SELECT %(project)s, trace_id, min(started_at), max(ended_at), max(e_user), max(e_feature), max(e_endpoint),
    max(e_session), COALESCE(sum(cost_total), 0), sum(input_tokens), sum(cache_read_tokens),
    sum(cache_write_tokens + cache_write_1h_tokens), sum(output_tokens), count(*),
    count(*) FILTER (WHERE cost_total IS NULL)
FROM eff
GROUP BY trace_id
ORDER BY trace_id
ON CONFLICT (project_id, trace_id) DO UPDATE SET
    first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at, "user" = EXCLUDED."user",
    feature = EXCLUDED.feature, endpoint = EXCLUDED.endpoint, session = EXCLUDED.session, cost = EXCLUDED.cost,
    input_tokens = EXCLUDED.input_tokens, cache_read_tokens = EXCLUDED.cache_read_tokens,
    cache_write_tokens = EXCLUDED.cache_write_tokens, output_tokens = EXCLUDED.output_tokens,
    llm_calls = EXCLUDED.llm_calls, unpriced_calls = EXCLUDED.unpriced_calls
"""


_METRIC_COLUMNS = """cost, cost_input, cost_cache_read, cost_cache_write, cost_output, savings, input_tokens,
    cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, llm_calls, requests, errors,
    response_cache_hits, unpriced_calls"""

_DAY_INSERT = f"""
INSERT INTO usage_rollupday (project_id, day, dimension, key, {_METRIC_COLUMNS})
SELECT %(project)s, %(day)s, dimension, key,
    sum(cost), sum(cost_input), sum(cost_cache_read), sum(cost_cache_write), sum(cost_output), sum(savings),
    sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),
    sum(llm_calls), sum(requests), sum(errors), sum(response_cache_hits), sum(unpriced_calls)
FROM usage_rolluphour
WHERE project_id = %(project)s AND hour >= %(start)s AND hour < %(end)s
GROUP BY dimension, key
"""


@dataclass(frozen=True)
class Bucket:
    project_id: int
    hour: datetime


def _project_zone(project_id: int) -> ZoneInfo:
    from costwatch.projects.models import Project

    return ZoneInfo(Project.objects.values_list("timezone", flat=True).get(pk=project_id))


_MONTH_INSERT = f"""
INSERT INTO usage_rollupmonth (project_id, month, through, dimension, key, {_METRIC_COLUMNS})
SELECT %(project)s, %(month)s, %(through)s, dimension, key,
    sum(cost), sum(cost_input), sum(cost_cache_read), sum(cost_cache_write), sum(cost_output), sum(savings),
    sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),
    sum(llm_calls), sum(requests), sum(errors), sum(response_cache_hits), sum(unpriced_calls)
FROM usage_rollupday
WHERE project_id = %(project)s AND day >= %(month)s AND day < %(through)s
GROUP BY dimension, key
"""


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _lock_month(cursor, project_id: int, month: date) -> None:  # noqa: ANN001 - DB cursor
    # Serialises a day's recompute with the month cache refresh that reads it.
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [project_id, month.toordinal()])


def recompute_day(project_id: int, day: date, zone: ZoneInfo | None = None) -> None:
    """Replace one project day (in its time zone) with the sum of that day's hour rollups.

    A month cache that already includes this day is dropped; ``refresh_months`` rebuilds it.
    """
    zone = zone or _project_zone(project_id)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_month(cursor, project_id, month_of(day))
        cursor.execute(
            "DELETE FROM usage_rollupmonth WHERE project_id = %s AND month = %s AND through > %s",
            [project_id, month_of(day), day],
        )
        cursor.execute("DELETE FROM usage_rollupday WHERE project_id = %s AND day = %s", [project_id, day])
        cursor.execute(_DAY_INSERT, {"project": project_id, "day": day, "start": start, "end": end})


def recompute_bucket(project_id: int, hour: datetime) -> None:
    """Replace the rollups of one (project, hour) and of the requests that have calls in it.

    The project day holding the hour is marked for re-summing (``recompute_dirty`` does it).
    """
    params = {"project": project_id, "start": hour, "end": hour + timedelta(hours=1)}
    local_day = hour.astimezone(_project_zone(project_id)).date()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO usage_dirtyday (project_id, day) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [project_id, local_day],
        )
        cursor.execute("DELETE FROM usage_rolluphour WHERE project_id = %s AND hour = %s", [project_id, hour])
        _fill_scope(cursor, _HOUR_WHERE, params)
        cursor.execute(_HOUR_INSERT, params)
        cursor.execute(
            "SELECT DISTINCT trace_id FROM usage_llmcall WHERE project_id = %(project)s"
            " AND started_at >= %(start)s AND started_at < %(end)s",
            params,
        )
        traces = [row[0] for row in cursor.fetchall()]
        if traces:
            # Upsert, not delete+insert: a trace spanning two hours may be recomputed by two workers at once.
            request_params = {"project": project_id, "traces": traces}
            _fill_scope(cursor, _REQUEST_WHERE, request_params)
            cursor.execute(_REQUEST_INSERT, request_params)


def recompute_dirty(max_buckets: int = 1000) -> int:
    """Claim dirty buckets (SKIP LOCKED, so workers never share one) and recompute them.

    A bucket whose transaction fails (e.g. a deadlock with a concurrent run) stays dirty and is
    picked up again: the claim is rolled back with the work.
    """
    done = 0
    failures = 0
    while done < max_buckets and failures < 3:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    """DELETE FROM usage_dirtybucket WHERE id IN (
                           SELECT id FROM usage_dirtybucket ORDER BY hour
                           FOR UPDATE SKIP LOCKED LIMIT %s)
                       RETURNING project_id, hour""",
                    [CLAIM_BATCH],
                )
                claimed = [Bucket(*row) for row in cursor.fetchall()]
                for bucket in claimed:
                    recompute_bucket(bucket.project_id, bucket.hour)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in {"40P01", "40001"}:
                raise
            failures += 1
            continue
        if not claimed:
            break
        done += len(claimed)
    _recompute_dirty_days()
    refresh_months()
    return done


def refresh_months(today: datetime | None = None) -> int:
    """Extend each project's month caches to the start of its current local day. Cheap when current."""
    from costwatch.projects.models import Project

    now = today or datetime.now(ZoneInfo("UTC"))
    refreshed = 0
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT d.project_id, d.month, m.through FROM (
                   SELECT DISTINCT project_id, date_trunc('month', day)::date AS month
                   FROM usage_rollupday WHERE dimension = 'total') AS d
               LEFT JOIN (SELECT DISTINCT project_id, month, through FROM usage_rollupmonth
                          WHERE dimension = 'total') AS m ON m.project_id = d.project_id AND m.month = d.month"""
        )
        months = cursor.fetchall()
    zones = dict(Project.objects.values_list("pk", "timezone"))
    for project_id, month, through in months:
        local_today = now.astimezone(ZoneInfo(zones[project_id])).date()
        target = min(next_month(month), local_today)
        if target <= month or through == target:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_month(cursor, project_id, month)
            cursor.execute("DELETE FROM usage_rollupmonth WHERE project_id = %s AND month = %s", [project_id, month])
            cursor.execute(_MONTH_INSERT, {"project": project_id, "month": month, "through": target})
        refreshed += 1
    return refreshed


def _recompute_dirty_days() -> None:
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """DELETE FROM usage_dirtyday WHERE id IN (
                       SELECT id FROM usage_dirtyday ORDER BY day FOR UPDATE SKIP LOCKED LIMIT 1)
                   RETURNING project_id, day"""
            )
            row = cursor.fetchone()
            if row is None:
                return
            recompute_day(*row)


def rebuild_project(project_id: int) -> int:
    """Drop and rebuild every rollup of a project from its raw calls (rollups are derived)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT date_trunc('hour', started_at) FROM usage_llmcall WHERE project_id = %s", [project_id]
        )
        hours = [row[0] for row in cursor.fetchall()]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM usage_rolluphour WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM usage_rollupday WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM usage_rollupmonth WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM usage_requestrollup WHERE project_id = %s", [project_id])
        for hour in hours:
            recompute_bucket(project_id, hour)
    _recompute_dirty_days()
    refresh_months()
    return len(hours)
