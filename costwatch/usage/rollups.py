"""Recomputing rollups from raw calls, by trace.

Ingest marks the traces of each export (``DirtyTrace``). A run recomputes those traces from all of
their stored calls and spans: their **parts** (``RollupPart``: counted calls per bucket and resolved
attribution, summed) and request rollups are replaced, and the hour and day rollups change by the
difference (new parts minus replaced parts). The hours are therefore always the sum of their parts,
a run costs what its traces cost (not what their hours hold), and recomputing a trace twice changes
nothing (idempotent). ``rebuild_project`` rebuilds everything from raw calls and gives the same rows.

A bucket is (project, local hour): an hour of the project's own clock, as a UTC instant, so days in
every UTC offset (:30 and :45 included) are whole buckets (``services.bucket_minutes``).

This module is the one owner of attribution and de-duplication; ingest stores only what each span
says (its parent and its own attributes), so the result never depends on how spans were batched.

**Attribution rule** (user, feature, conversation, endpoint), per call:

1. the call span's own value;
2. else the nearest ancestor span carrying it, walking parent links through stored spans
   (the endpoint is the ``http.route`` of the nearest SERVER ancestor);
3. else, only when that walk stops at a span Costwatch did not store (an intermediate span that
   carries nothing and is not GenAI instrumentation), the innermost stored span of the trace whose
   time range encloses the call, then the trace's root span;
4. the endpoint falls back to the root span's name; anything else stays blank.

**De-duplication rule**: two stored calls of one trace are the same provider call, counted once,
when they are the same span (same span id) sent again with another start time, when they share a
``gen_ai.response.id``, or when one is an ancestor of the other (an agent framework's
LLM span wrapping the SDK's) with the same model (price key) and the same prompt and output token
counts, or with the same model where one of them has unknown usage. The most complete one is
counted (reported usage over estimated over unknown, then more non-zero token kinds, a response id,
more tokens, then the smallest span id, then the first stored); the others stay stored and are shown
as duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import OperationalError, connection, transaction

from costwatch.projects.calendar import ProjectCalendar, month_start, next_month
from costwatch.usage.services import BUCKET_SQL, bucket_minutes

CLAIM_BATCH = 1  # one bucket per transaction: short locks, no lock-order cycles
MAX_ANCESTRY_DEPTH = 64  # parent links followed per call (guards against cycles in bad data)

_SCOPE_SELECT = "SELECT c.* FROM usage_llmcall c WHERE c.project_id = %(project)s AND {where}"

_EFFECTIVE_CALLS = (
    """
WITH RECURSIVE scope_calls AS MATERIALIZED (
{scope}
),
scope_traces AS MATERIALIZED (SELECT DISTINCT trace_id FROM scope_calls),
trace_calls AS MATERIALIZED (
    SELECT t.id, t.trace_id, t.span_id, t.parent_span_id, t.started_at, t.ended_at, t.response_id, t.usage_state,
        COALESCE(NULLIF(t.price_key, ''), NULLIF(t.model, ''), '(unknown)') AS model_key,
        t.input_tokens + t.cache_read_tokens + t.cache_write_tokens + t.cache_write_1h_tokens AS prompt_tokens,
        t.output_tokens,
        ARRAY[CASE t.usage_state WHEN 'reported' THEN 2 WHEN 'estimated' THEN 1 ELSE 0 END,
              (t.input_tokens > 0)::int + (t.cache_read_tokens > 0)::int + (t.cache_write_tokens > 0)::int
                + (t.cache_write_1h_tokens > 0)::int + (t.output_tokens > 0)::int + (t.reasoning_tokens > 0)::int,
              (t.response_id <> '')::int,
              t.input_tokens + t.cache_read_tokens + t.cache_write_tokens + t.cache_write_1h_tokens
                + t.output_tokens]::bigint[] AS completeness
    FROM {trace_calls}
),
spans AS MATERIALIZED (
    SELECT a.trace_id, a.span_id, a.parent_span_id, a.is_root, a.started_at, a.ended_at,
        a."user", a.feature, a.session, a.route, a.root_name
    FROM usage_spanattribution a
    WHERE a.project_id = %(project)s AND a.trace_id IN (SELECT trace_id FROM scope_traces)
),
chain AS (
    SELECT t.trace_id, t.span_id AS call_span, t.parent_span_id AS anc, 1 AS depth
    FROM trace_calls t WHERE t.parent_span_id <> ''
    UNION ALL
    SELECT ch.trace_id, ch.call_span, s.parent_span_id, ch.depth + 1
    FROM chain ch JOIN spans s ON s.trace_id = ch.trace_id AND s.span_id = ch.anc
    WHERE s.parent_span_id <> '' AND ch.depth < """
    + str(MAX_ANCESTRY_DEPTH)
    + """
),
ancestry AS (
    SELECT ch.trace_id, ch.call_span,
        (array_agg(s."user" ORDER BY ch.depth) FILTER (WHERE s."user" <> ''))[1] AS a_user,
        (array_agg(s.feature ORDER BY ch.depth) FILTER (WHERE s.feature <> ''))[1] AS a_feature,
        (array_agg(s.session ORDER BY ch.depth) FILTER (WHERE s.session <> ''))[1] AS a_session,
        (array_agg(s.route ORDER BY ch.depth) FILTER (WHERE s.route <> ''))[1] AS a_route,
        bool_or(s.is_root) AS reached_root
    FROM chain ch JOIN spans s ON s.trace_id = ch.trace_id AND s.span_id = ch.anc
    GROUP BY ch.trace_id, ch.call_span
),
roots AS (
    SELECT trace_id,
        (array_agg("user" ORDER BY span_id) FILTER (WHERE "user" <> ''))[1] AS r_user,
        (array_agg(feature ORDER BY span_id) FILTER (WHERE feature <> ''))[1] AS r_feature,
        (array_agg(session ORDER BY span_id) FILTER (WHERE session <> ''))[1] AS r_session,
        (array_agg(route ORDER BY span_id) FILTER (WHERE route <> ''))[1] AS r_route,
        (array_agg(root_name ORDER BY span_id) FILTER (WHERE root_name <> ''))[1] AS r_name
    FROM spans WHERE is_root GROUP BY trace_id
),
broken AS (
    -- One row per span (a span re-sent with another start time is stored twice).
    SELECT DISTINCT ON (t.trace_id, t.span_id) t.trace_id, t.span_id, t.started_at, t.ended_at
    FROM trace_calls t LEFT JOIN ancestry an ON an.trace_id = t.trace_id AND an.call_span = t.span_id
    WHERE t.parent_span_id <> '' AND NOT COALESCE(an.reached_root, false)
    ORDER BY t.trace_id, t.span_id, t.id
),
enclosing AS (
    SELECT b.trace_id, b.span_id AS call_span,
        (array_agg(s."user" ORDER BY s.started_at DESC, s.span_id) FILTER (WHERE s."user" <> ''))[1] AS x_user,
        (array_agg(s.feature ORDER BY s.started_at DESC, s.span_id) FILTER (WHERE s.feature <> ''))[1] AS x_feature,
        (array_agg(s.session ORDER BY s.started_at DESC, s.span_id) FILTER (WHERE s.session <> ''))[1] AS x_session,
        (array_agg(s.route ORDER BY s.started_at DESC, s.span_id) FILTER (WHERE s.route <> ''))[1] AS x_route
    FROM broken b JOIN spans s ON s.trace_id = b.trace_id AND s.span_id <> b.span_id
        AND s.started_at <= b.started_at AND s.ended_at >= b.ended_at
    GROUP BY b.trace_id, b.span_id
),
recordings AS (
    -- Pairs of stored calls of one trace that record the same provider call: nested (one is an
    -- ancestor of the other) with the same model and counts (or one without usage), the same
    -- response id, or the same span sent again with another start time.
    SELECT x.id AS a_id, x.span_id AS a_span, x.completeness AS a_rank,
           y.id AS b_id, y.span_id AS b_span, y.completeness AS b_rank
    FROM chain ch
    JOIN trace_calls x ON x.trace_id = ch.trace_id AND x.span_id = ch.call_span
    JOIN trace_calls y ON y.trace_id = ch.trace_id AND y.span_id = ch.anc
    WHERE x.model_key = y.model_key
      AND ((x.prompt_tokens = y.prompt_tokens AND x.output_tokens = y.output_tokens)
           OR x.usage_state = 'unknown' OR y.usage_state = 'unknown')
    UNION ALL
    SELECT x.id, x.span_id, x.completeness, y.id, y.span_id, y.completeness
    FROM trace_calls x JOIN trace_calls y
        ON y.trace_id = x.trace_id AND y.response_id = x.response_id AND y.id < x.id
    WHERE x.response_id <> ''
    UNION ALL
    SELECT x.id, x.span_id, x.completeness, y.id, y.span_id, y.completeness
    FROM trace_calls x JOIN trace_calls y ON y.trace_id = x.trace_id AND y.span_id = x.span_id AND y.id < x.id
),
same_call AS (
    -- Of each pair the less complete one is not counted (ties: the larger span id, then the
    -- later stored row: a span's identity is (trace id, span id), whatever its start time).
    SELECT CASE WHEN (b_rank, a_span, a_id) > (a_rank, b_span, b_id) THEN a_id ELSE b_id END AS loser
    FROM recordings
),
firsts AS (
    SELECT trace_id, min(started_at) AS first_at FROM trace_calls GROUP BY trace_id
),
eff AS (
    SELECT c.*,
        NOT EXISTS (SELECT 1 FROM same_call d WHERE d.loser = c.id) AS counted,
        COALESCE(NULLIF(c."user", ''), an.a_user, CASE WHEN b.span_id IS NOT NULL THEN COALESCE(en.x_user, r.r_user) END, '') AS e_user,
        COALESCE(NULLIF(c.feature, ''), an.a_feature,
                 CASE WHEN b.span_id IS NOT NULL THEN COALESCE(en.x_feature, r.r_feature) END, '') AS e_feature,
        COALESCE(an.a_route, CASE WHEN b.span_id IS NOT NULL THEN COALESCE(en.x_route, r.r_route) END,
                 r.r_name, '') AS e_endpoint,
        COALESCE(NULLIF(c.session, ''), an.a_session,
                 CASE WHEN b.span_id IS NOT NULL THEN COALESCE(en.x_session, r.r_session) END, '') AS e_session,
        COALESCE(NULLIF(c.price_key, ''), NULLIF(c.model, ''), '(unknown)') AS e_model,
        COALESCE(NULLIF(c.provider, ''), '(unknown)') AS e_provider,
        f.first_at
    FROM scope_calls c
    JOIN firsts f ON f.trace_id = c.trace_id
    LEFT JOIN ancestry an ON an.trace_id = c.trace_id AND an.call_span = c.span_id
    LEFT JOIN broken b ON b.trace_id = c.trace_id AND b.span_id = c.span_id
    LEFT JOIN enclosing en ON en.trace_id = c.trace_id AND en.call_span = c.span_id
    LEFT JOIN roots r ON r.trace_id = c.trace_id
)
"""
)


# Custom dimensions (costwatch.usage.dimensions), resolved by the attribution rule above: the call
# span's own value, its nearest ancestor's, and when the walk broke the innermost enclosing span's,
# then the root's. ``eff_dims`` has one row per call of ``eff`` and dimension id in %(dims)s.
_DIMENSION_CTES = """,
dim_names AS (SELECT DISTINCT unnest(%(dims)s::text[]) AS dim),
own_dims AS MATERIALIZED (
    SELECT a.trace_id, a.span_id, kv.key AS dim, kv.value
    FROM usage_spanattribution a CROSS JOIN LATERAL jsonb_each_text(a.dimensions) AS kv
    WHERE a.project_id = %(project)s AND a.trace_id IN (SELECT trace_id FROM scope_traces)
      AND a.dimensions IS NOT NULL AND kv.key = ANY(%(dims)s::text[]) AND kv.value <> ''
),
anc_dims AS (
    SELECT DISTINCT ON (ch.trace_id, ch.call_span, o.dim) ch.trace_id, ch.call_span, o.dim, o.value
    FROM chain ch JOIN own_dims o ON o.trace_id = ch.trace_id AND o.span_id = ch.anc
    ORDER BY ch.trace_id, ch.call_span, o.dim, ch.depth
),
root_dims AS (
    SELECT DISTINCT ON (o.trace_id, o.dim) o.trace_id, o.dim, o.value
    FROM own_dims o JOIN spans s ON s.trace_id = o.trace_id AND s.span_id = o.span_id
    WHERE s.is_root ORDER BY o.trace_id, o.dim, o.span_id
),
enclosing_dims AS (
    SELECT DISTINCT ON (b.trace_id, b.span_id, o.dim) b.trace_id, b.span_id AS call_span, o.dim, o.value
    FROM broken b JOIN spans s ON s.trace_id = b.trace_id AND s.span_id <> b.span_id
        AND s.started_at <= b.started_at AND s.ended_at >= b.ended_at
    JOIN own_dims o ON o.trace_id = s.trace_id AND o.span_id = s.span_id
    ORDER BY b.trace_id, b.span_id, o.dim, s.started_at DESC, s.span_id
),
eff_dims AS (
    SELECT e.id, n.dim,
        COALESCE(od.value, ad.value, CASE WHEN b.span_id IS NOT NULL THEN COALESCE(xd.value, rd.value) END,
                 '') AS value
    FROM eff e CROSS JOIN dim_names n
    LEFT JOIN own_dims od ON od.trace_id = e.trace_id AND od.span_id = e.span_id AND od.dim = n.dim
    LEFT JOIN anc_dims ad ON ad.trace_id = e.trace_id AND ad.call_span = e.span_id AND ad.dim = n.dim
    LEFT JOIN broken b ON b.trace_id = e.trace_id AND b.span_id = e.span_id
    LEFT JOIN enclosing_dims xd ON xd.trace_id = e.trace_id AND xd.call_span = e.span_id AND xd.dim = n.dim
    LEFT JOIN root_dims rd ON rd.trace_id = e.trace_id AND rd.dim = n.dim
)
"""


def effective_calls_sql(where: str, *, dimensions: bool = False) -> str:
    """The CTE chain ending in ``eff``: every call matching ``where`` (alias ``c``) with its
    attribution resolved (``e_user``, ``e_feature``, ``e_endpoint``, ``e_session``, ``e_model``,
    ``e_provider``), its trace's ``first_at`` and ``counted`` (False for a duplicate). Totals must
    filter on ``counted``. Parameters: ``%(project)s`` and whatever ``where`` uses.

    With ``dimensions``, the chain continues to ``eff_dims`` (``id`` of the call in ``eff``, ``dim``
    the custom dimension's id as text, ``value`` its resolved value, '' when none), for the ids in
    ``%(dims)s`` (a list of strings).
    """
    return _EFFECTIVE_CALLS.format(scope=_SCOPE_SELECT.format(where=where), trace_calls=_TRACE_CALLS) + (
        _DIMENSION_CTES if dimensions else ""
    )


# Recomputes first copy their calls into an analysed temp table: the newest hour is always past
# the table statistics, and a planner that expects one row there picks nested loops that take
# minutes on a busy hour.
# Every call of the scope's traces. A recompute's scope already holds whole traces, so its chain
# reads them from there (one pass over the temp table instead of an index probe per partition).
_TRACE_CALLS = "usage_llmcall t WHERE t.project_id = %(project)s AND t.trace_id IN (SELECT trace_id FROM scope_traces)"
# Its stored spans are looked up by the trace ids themselves (``%(traces)s``): a semi-join on the
# scope let the planner read every span of the project when the table statistics were behind.
_FROM_SCOPE_TABLE = _EFFECTIVE_CALLS.format(
    scope="    SELECT * FROM rollup_scope", trace_calls="rollup_scope t"
).replace("a.trace_id IN (SELECT trace_id FROM scope_traces)", "a.trace_id = ANY(%(traces)s)")
_SCOPE_DIMENSION_CTES = _DIMENSION_CTES.replace(
    "a.trace_id IN (SELECT trace_id FROM scope_traces)", "a.trace_id = ANY(%(traces)s)"
)


def _fill_scope(cursor, where: str, params: dict[str, object]) -> None:  # noqa: ANN001 - DB cursor
    # One temp table per transaction, emptied for each use: creating one per bucket took new locks
    # each time, and a rebuild of weeks of buckets in one transaction ran out of lock space.
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_scope (LIKE usage_llmcall) ON COMMIT DROP")
    cursor.execute("TRUNCATE rollup_scope")
    cursor.execute(f"INSERT INTO rollup_scope {_SCOPE_SELECT.format(where=where)}", params)
    # The columns the chain joins and groups on (statistics of all ~40 cost more than the joins).
    cursor.execute("ANALYZE rollup_scope (id, trace_id, span_id, parent_span_id, response_id, started_at)")


def claim_sql(table: str, order_by: str, returning: str) -> str:
    """A claim that takes exactly ``%(limit)s`` rows (or fewer): their ids are picked once in a
    MATERIALIZED step under ``FOR UPDATE SKIP LOCKED``, then exactly those rows are deleted.

    (``DELETE ... WHERE id IN (SELECT ... LIMIT n)`` may run the subquery once per outer row
    under a nested-loop semi-join and delete every row; see ../shared/cases/dirty-day-claim.sql.)
    """
    return f"""WITH picked AS MATERIALIZED (
                   SELECT id FROM {table} ORDER BY {order_by} FOR UPDATE SKIP LOCKED LIMIT %(limit)s)
               DELETE FROM {table} AS claimed USING picked WHERE claimed.id = picked.id
               RETURNING {returning}"""


_TRACE_CLAIM = claim_sql("usage_dirtytrace", "id", "claimed.project_id, claimed.trace_id")
_BUCKET_CLAIM = claim_sql("usage_dirtybucket", "hour, id", "claimed.project_id, claimed.hour")
_DAY_CLAIM = claim_sql("usage_dirtyday", "day, id", "claimed.project_id, claimed.day")


# The call-state counts of a group of counted calls (see RollupMetrics for their meaning).
CALL_STATE_SUMS = """count(*) FILTER (WHERE cost_total IS NULL AND usage_state <> 'unknown'),
        count(*) FILTER (WHERE usage_state = 'unknown'), count(*) FILTER (WHERE usage_state = 'estimated'),
        count(*) FILTER (WHERE cost_total IS NOT NULL), count(*) FILTER (WHERE count_basis = 'inferred'),
        count(*) FILTER (WHERE cost_approximate)"""

# The resolved calls of the traces in ``rollup_scope`` (every call of those traces), evaluated once
# per recompute and read by the parts, the dimension values and the request rollups.
_EFF_FILL = _FROM_SCOPE_TABLE + "INSERT INTO rollup_eff SELECT * FROM eff"
_EFF_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS rollup_eff ON COMMIT DROP AS "
    + _EFFECTIVE_CALLS.format(scope="    SELECT * FROM usage_llmcall WHERE false", trace_calls="rollup_scope t")
    + "SELECT * FROM eff WITH NO DATA"
)

# Custom dimensions: each counted call's resolved value per dimension, with the call's local day
# for the cardinality guard (dimensions.admit_values), which turns values into rollup keys.
_DIM_CALL_COLUMNS = "id bigint, trace_id text, started_at timestamptz, local_day date, dim text, value text"
_DIM_CALL_FILL = (
    _FROM_SCOPE_TABLE
    + _SCOPE_DIMENSION_CTES
    + f"""
INSERT INTO rollup_dim_calls
SELECT e.id, e.trace_id, e.started_at,
    ({BUCKET_SQL.format(column="e.started_at")} AT TIME ZONE %(tz)s)::date, d.dim, d.value
FROM eff e JOIN eff_dims d ON d.id = e.id
WHERE e.counted
"""
)
# Per call: its dimension values ({id: value}, set ones only: the request rollup's) and its rollup
# keys ({id: value, '' or '(other)'} for every dimension: the parts').
_CALL_DIMS_FILL = """
INSERT INTO rollup_call_dims
SELECT d.id, jsonb_object_agg(d.dim, d.value) FILTER (WHERE d.value <> ''),
    jsonb_object_agg(d.dim, CASE WHEN d.value = '' OR EXISTS (
            SELECT 1 FROM usage_dimensionvalue v WHERE v.dimension_id = d.dim::bigint AND v.day = d.local_day
              AND md5(v.value) = md5(d.value) AND v.value = d.value)
        THEN d.value ELSE '(other)' END)
FROM rollup_dim_calls d
GROUP BY d.id
"""

# The summed metrics of a rollup row (``models.RollupMetrics``).
METRIC_COLUMNS = (
    "cost",
    "cost_input",
    "cost_cache_read",
    "cost_cache_write",
    "cost_output",
    "savings",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "llm_calls",
    "requests",
    "errors",
    "response_cache_hits",
    "unpriced_calls",
    "unknown_usage_calls",
    "estimated_calls",
    "priced_calls",
    "inferred_calls",
    "approximate_calls",
)

# A part's metrics: the rollup metrics but ``requests`` (a part says whether its trace's first call
# is in its bucket, ``first_in_hour``; requests are counted from that).
PART_METRICS = tuple(column for column in METRIC_COLUMNS if column != "requests")
_PART_COLUMNS = (
    'project_id, trace_id, hour, "user", feature, endpoint, model, provider, session, dimensions, first_in_hour, '
    + ", ".join(PART_METRICS)
)
# A trace's counted calls per (bucket, resolved attribution, dimension keys), summed.
_PARTS_FILL = f"""
INSERT INTO rollup_new_parts ({_PART_COLUMNS})
SELECT %(project)s, trace_id, bucket, e_user, e_feature, e_endpoint, e_model, e_provider, e_session, dims,
    bool_or(first_at >= bucket),
    COALESCE(sum(cost_total), 0), COALESCE(sum(cost_input), 0), COALESCE(sum(cost_cache_read), 0),
    COALESCE(sum(cost_cache_write), 0), COALESCE(sum(cost_output), 0),
    COALESCE(sum(list_cost - cost_total) FILTER (WHERE list_cost IS NOT NULL), 0),
    sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens + cache_write_1h_tokens),
    sum(output_tokens), sum(reasoning_tokens),
    count(*), count(*) FILTER (WHERE is_error), count(*) FILTER (WHERE response_cache_hit),
    {CALL_STATE_SUMS}
FROM (
    SELECT e.*, {BUCKET_SQL.format(column="e.started_at")} AS bucket, cd.dim_keys AS dims
    FROM rollup_eff e LEFT JOIN rollup_call_dims cd ON cd.id = e.id
    WHERE e.counted
) AS counted_calls
GROUP BY trace_id, bucket, e_user, e_feature, e_endpoint, e_model, e_provider, e_session, dims
"""

_DELTA_METRICS = (*PART_METRICS, "requests")  # the order _DELTA_FILL computes them in
_SIGNED_SUMS = ", ".join(f"sum(sign * {m})" for m in PART_METRICS)
_REQUESTS_DELTA = (
    "count(DISTINCT trace_id) FILTER (WHERE first_in_hour AND sign = 1)"
    " - count(DISTINCT trace_id) FILTER (WHERE first_in_hour AND sign = -1)"
)
_SIGNED_PARTS = f"""(
    SELECT 1 AS sign, trace_id, hour, "user", feature, endpoint, model, provider, session, dimensions,
        first_in_hour, {", ".join(PART_METRICS)} FROM rollup_new_parts
    UNION ALL
    SELECT -1, trace_id, hour, "user", feature, endpoint, model, provider, session, dimensions,
        first_in_hour, {", ".join(PART_METRICS)} FROM rollup_old_parts
) AS p"""
# What the recomputed traces change in each (bucket, dimension, key): their new parts minus the
# parts they replace. Groups are the built-in dimensions and each configured custom dimension.
_DELTA_FILL = f"""
INSERT INTO rollup_delta (hour, dimension, key, {", ".join(_DELTA_METRICS)})
SELECT * FROM (
    SELECT hour,
        CASE WHEN GROUPING("user") = 0 THEN 'user'
             WHEN GROUPING(feature) = 0 THEN 'feature'
             WHEN GROUPING(endpoint) = 0 THEN 'endpoint'
             WHEN GROUPING(model) = 0 THEN 'model'
             WHEN GROUPING(provider) = 0 THEN 'provider'
             WHEN GROUPING(session) = 0 THEN 'conversation'
             ELSE 'total' END AS dimension,
        COALESCE("user", feature, endpoint, model, provider, session, '') AS key,
        {_SIGNED_SUMS}, {_REQUESTS_DELTA}
    FROM {_SIGNED_PARTS}
    GROUP BY GROUPING SETS ((hour), (hour, "user"), (hour, feature), (hour, endpoint), (hour, model),
                            (hour, provider), (hour, session))
) AS grouped
WHERE NOT (grouped.dimension = 'conversation' AND grouped.key = '')
UNION ALL
SELECT hour, 'dim:' || kv.key, kv.value, {_SIGNED_SUMS}, {_REQUESTS_DELTA}
FROM {_SIGNED_PARTS} CROSS JOIN LATERAL jsonb_each_text(p.dimensions) AS kv
WHERE kv.key = ANY(%(dims)s::text[])
GROUP BY hour, kv.key, kv.value
"""
_DELTA_NONZERO = " OR ".join(f"{m} <> 0" for m in _DELTA_METRICS)


def _apply_delta_sql(table: str, period: str, period_sql: str) -> str:
    """Add ``rollup_delta`` (grouped by ``period_sql`` AS ``period``) to a rollup table, in a stable
    row order (concurrent runs lock shared rows in the same order); returns (id, llm_calls)."""
    sums = ", ".join(f"sum({m})" for m in _DELTA_METRICS)
    updates = ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in _DELTA_METRICS)
    return f"""
INSERT INTO {table} (project_id, {period}, dimension, key, {", ".join(_DELTA_METRICS)})
SELECT %(project)s, {period_sql}, dimension, key, {sums}
FROM rollup_delta
GROUP BY 2, dimension, key
HAVING {" OR ".join(f"sum({m}) <> 0" for m in _DELTA_METRICS)}
ORDER BY 2, dimension, md5(key)
ON CONFLICT (project_id, dimension, md5(key), {period}) DO UPDATE SET {updates}
RETURNING id, llm_calls
"""


_HOUR_APPLY = _apply_delta_sql("usage_rolluphour", "hour", "hour")
_DAY_APPLY = _apply_delta_sql("usage_rollupday", "day", "(hour AT TIME ZONE %(tz)s)::date")

_REQUEST_WHERE = "c.trace_id = ANY(%(traces)s)"
# A request's attribution and custom dimension values are those of its first counted call (by start,
# then span id); one sort finds it for every request.
_REQUEST_FILL = """
WITH firsts AS (
    SELECT DISTINCT ON (e.trace_id) e.trace_id, e.e_user, e.e_feature, e.e_endpoint, e.e_session, cd.dim_values
    FROM rollup_eff e LEFT JOIN rollup_call_dims cd ON cd.id = e.id
    WHERE e.counted
    ORDER BY e.trace_id, e.started_at, e.span_id
),
sums AS (
    SELECT trace_id, min(started_at) AS first_at, max(ended_at) AS last_at,
        COALESCE(sum(cost_total) FILTER (WHERE counted), 0) AS cost,
        COALESCE(sum(input_tokens) FILTER (WHERE counted), 0) AS input_tokens,
        COALESCE(sum(cache_read_tokens) FILTER (WHERE counted), 0) AS cache_read_tokens,
        COALESCE(sum(cache_write_tokens + cache_write_1h_tokens) FILTER (WHERE counted), 0) AS cache_write_tokens,
        COALESCE(sum(output_tokens) FILTER (WHERE counted), 0) AS output_tokens,
        count(*) FILTER (WHERE counted) AS llm_calls,
        count(*) FILTER (WHERE counted AND cost_total IS NULL AND usage_state <> 'unknown') AS unpriced_calls,
        count(*) FILTER (WHERE counted AND usage_state = 'unknown') AS unknown_usage_calls,
        count(*) FILTER (WHERE counted AND usage_state = 'estimated') AS estimated_calls,
        count(*) FILTER (WHERE counted AND cost_total IS NOT NULL) AS priced_calls,
        count(*) FILTER (WHERE NOT counted) AS duplicate_calls
    FROM rollup_eff GROUP BY trace_id
)
INSERT INTO usage_requestrollup (
    project_id, trace_id, first_at, last_at, "user", feature, endpoint, session, cost,
    input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, llm_calls, unpriced_calls,
    unknown_usage_calls, estimated_calls, priced_calls, duplicate_calls, dimensions)
SELECT %(project)s, s.trace_id, s.first_at, s.last_at, f.e_user, f.e_feature, f.e_endpoint, f.e_session, s.cost,
    s.input_tokens, s.cache_read_tokens, s.cache_write_tokens, s.output_tokens, s.llm_calls, s.unpriced_calls,
    s.unknown_usage_calls, s.estimated_calls, s.priced_calls, s.duplicate_calls, f.dim_values
FROM sums s LEFT JOIN firsts f ON f.trace_id = s.trace_id
ORDER BY s.trace_id
ON CONFLICT (project_id, trace_id) DO UPDATE SET
    first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at, "user" = EXCLUDED."user",
    feature = EXCLUDED.feature, endpoint = EXCLUDED.endpoint, session = EXCLUDED.session, cost = EXCLUDED.cost,
    input_tokens = EXCLUDED.input_tokens, cache_read_tokens = EXCLUDED.cache_read_tokens,
    cache_write_tokens = EXCLUDED.cache_write_tokens, output_tokens = EXCLUDED.output_tokens,
    llm_calls = EXCLUDED.llm_calls, unpriced_calls = EXCLUDED.unpriced_calls,
    unknown_usage_calls = EXCLUDED.unknown_usage_calls, estimated_calls = EXCLUDED.estimated_calls,
    priced_calls = EXCLUDED.priced_calls, duplicate_calls = EXCLUDED.duplicate_calls,
    dimensions = EXCLUDED.dimensions
"""


_METRIC_COLUMNS = ", ".join(METRIC_COLUMNS)
_METRIC_SUMS = ", ".join(f"sum({column})" for column in METRIC_COLUMNS)

_DAY_INSERT = f"""
INSERT INTO usage_rollupday (project_id, day, dimension, key, {_METRIC_COLUMNS})
SELECT %(project)s, %(day)s, dimension, key, {_METRIC_SUMS}
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
SELECT %(project)s, %(month)s, %(through)s, dimension, key, {_METRIC_SUMS}
FROM usage_rollupday
WHERE project_id = %(project)s AND day >= %(month)s AND day < %(through)s
GROUP BY dimension, key
"""


def _lock_month(cursor, project_id: int, month: date) -> None:  # noqa: ANN001 - DB cursor
    # Serialises a day's recompute with the month cache refresh that reads it.
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [project_id, month.toordinal()])


def recompute_day(project_id: int, day: date, zone: ZoneInfo | None = None) -> None:
    """Replace one project day (in its time zone) with the sum of that day's hour rollups.

    A month cache that already includes this day is dropped; ``refresh_months`` rebuilds it.
    """
    start, end = ProjectCalendar(zone or _project_zone(project_id)).span(day, day)
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_month(cursor, project_id, month_start(day))
        cursor.execute(
            "DELETE FROM usage_rollupmonth WHERE project_id = %s AND month = %s AND through > %s",
            [project_id, month_start(day), day],
        )
        cursor.execute("DELETE FROM usage_rollupday WHERE project_id = %s AND day = %s", [project_id, day])
        cursor.execute(_DAY_INSERT, {"project": project_id, "day": day, "start": start, "end": end})


TRACE_CHUNK = 2000  # traces recomputed per statement batch (and claimed per transaction)


def _lock_project(cursor, project_id: int) -> None:  # noqa: ANN001 - DB cursor
    # Serialises the recomputes of one project: a trace's parts are replaced (old ones subtracted)
    # by one run at a time, and a rebuild excludes them all. Ingest never takes it.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('rollup:' || %s, 0))", [str(project_id)])


def _temp_tables(cursor) -> None:  # noqa: ANN001 - DB cursor
    # One set per transaction, emptied for each use (see _fill_scope).
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_scope (LIKE usage_llmcall) ON COMMIT DROP")
    cursor.execute(_EFF_TABLE, {"project": 0, "traces": []})
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS rollup_dim_calls ({_DIM_CALL_COLUMNS}) ON COMMIT DROP")
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS rollup_call_dims (id bigint, dim_values jsonb, dim_keys jsonb) ON COMMIT DROP"
    )
    for name in ("rollup_new_parts", "rollup_old_parts"):
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE usage_rolluppart INCLUDING DEFAULTS INCLUDING IDENTITY)"
            " ON COMMIT DROP"
        )
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS rollup_delta (hour timestamptz, dimension text, key text, "
        + ", ".join(f"{m} {'numeric' if m.startswith('cost') or m == 'savings' else 'bigint'}" for m in _DELTA_METRICS)
        + ") ON COMMIT DROP"
    )
    cursor.execute(
        "TRUNCATE rollup_eff, rollup_dim_calls, rollup_call_dims, rollup_new_parts, rollup_old_parts, rollup_delta"
    )


def recompute_traces(project_id: int, trace_ids: Iterable[str]) -> int:
    """Recompute the rollups of these traces of one project: their parts in every bucket holding
    one of their calls, the hour and day rollups by the difference, and their request rollups.

    Exact and idempotent: a trace's parts are derived from all of its stored calls and spans, and
    the hours and days change by (new parts - replaced parts). The cost grows with the traces'
    calls, not with the size of their hours. Runs in the caller's transaction if there is one.
    Returns the number of traces recomputed.
    """
    from costwatch.usage.dimensions import admit_values
    from costwatch.usage.models import CustomDimension

    traces = sorted(set(trace_ids))
    if not traces:
        return 0
    zone = _project_zone(project_id)
    dims = [str(pk) for pk in CustomDimension.objects.filter(project_id=project_id).values_list("pk", flat=True)]
    local_today = ProjectCalendar(zone).date_of(datetime.now(ZoneInfo("UTC")))
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_project(cursor, project_id)
        for offset in range(0, len(traces), TRACE_CHUNK):
            chunk = traces[offset : offset + TRACE_CHUNK]
            params: dict[str, Any] = {
                "project": project_id,
                "traces": chunk,
                "dims": dims,
                "tz": zone.key,
                "bucket_minutes": bucket_minutes(zone),
            }
            _temp_tables(cursor)
            _fill_scope(cursor, _REQUEST_WHERE, params)
            cursor.execute(_EFF_FILL, params)
            if dims:
                cursor.execute(_DIM_CALL_FILL, params)
                admit_values(cursor, project_id, "rollup_dim_calls")
                cursor.execute(_CALL_DIMS_FILL)
            cursor.execute(_PARTS_FILL, params)
            cursor.execute(
                """WITH gone AS (DELETE FROM usage_rolluppart WHERE project_id = %(project)s
                                     AND trace_id = ANY(%(traces)s) RETURNING *)
                    INSERT INTO rollup_old_parts SELECT * FROM gone""",
                params,
            )
            cursor.execute(
                f"INSERT INTO usage_rolluppart ({_PART_COLUMNS}) SELECT {_PART_COLUMNS} FROM rollup_new_parts", params
            )
            cursor.execute(_DELTA_FILL, params)
            _apply(cursor, "usage_rolluphour", _HOUR_APPLY, params)
            cursor.execute("SELECT DISTINCT (hour AT TIME ZONE %(tz)s)::date FROM rollup_delta", params)
            days = sorted(row[0] for row in cursor.fetchall())
            for month in sorted({month_start(day) for day in days}):
                _lock_month(cursor, project_id, month)
            past = [day for day in days if day < local_today]
            for day in past:  # a month cache holding a changed day is rebuilt by refresh_months
                cursor.execute(
                    "DELETE FROM usage_rollupmonth WHERE project_id = %s AND month = %s AND through > %s",
                    [project_id, month_start(day), day],
                )
            _apply(cursor, "usage_rollupday", _DAY_APPLY, params)
            cursor.execute(_REQUEST_FILL, params)
    return len(traces)


def _apply(cursor, table: str, sql: str, params: dict[str, Any]) -> None:  # noqa: ANN001 - DB cursor
    """Add the delta to a rollup table; a group left without calls is deleted (every group of a
    rollup has at least one counted call, as a recompute from raw calls would give)."""
    cursor.execute(sql, params)
    empty = [row_id for row_id, calls in cursor.fetchall() if calls <= 0]
    if empty:
        cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [empty])


def _traces_in(cursor, project_id: int, start: datetime, end: datetime) -> list[str]:  # noqa: ANN001
    cursor.execute(
        "SELECT DISTINCT trace_id FROM usage_llmcall WHERE project_id = %s AND started_at >= %s AND started_at < %s",
        [project_id, start, end],
    )
    return [row[0] for row in cursor.fetchall()]


def recompute_bucket(project_id: int, hour: datetime) -> None:
    """Recompute every trace with a call in one (project, hour): the hour's rollups, the other
    hours those traces reach, their days and their request rollups (``recompute_traces``)."""
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_project(cursor, project_id)
        recompute_traces(project_id, _traces_in(cursor, project_id, hour, hour + timedelta(hours=1)))


@dataclass(frozen=True)
class DirtyRun:
    """What one run of ``recompute_dirty_run`` did: marked traces and buckets recomputed, and the
    projects they belong to."""

    traces: int
    buckets: int
    project_ids: frozenset[int]


def recompute_dirty(max_buckets: int = 1000) -> int:
    """``recompute_dirty_run``; the number of traces and buckets recomputed (0: nothing was dirty)."""
    run = recompute_dirty_run(max_buckets)
    return run.traces + run.buckets


def recompute_dirty_run(max_buckets: int = 1000, max_traces: int = 100_000) -> DirtyRun:
    """Claim marked traces (``DirtyTrace``, up to ``TRACE_CHUNK`` marks per transaction) and dirty
    buckets (one per transaction), SKIP LOCKED so workers never share one, and recompute them; then
    refresh the month caches. Returns what was done and the projects touched (whose spend may have
    changed: alerting evaluates only their rules after the run).

    A transaction that fails (e.g. a deadlock with a concurrent run) leaves its marks in place to be
    picked up again: the claim is rolled back with the work.
    """
    traces = buckets = failures = 0
    projects: set[int] = set()
    while traces < max_traces and failures < 3:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_TRACE_CLAIM, {"limit": TRACE_CHUNK})
                by_project: dict[int, set[str]] = {}
                for project_id, trace_id in cursor.fetchall():
                    by_project.setdefault(project_id, set()).add(trace_id)
                for project_id in sorted(by_project):  # one lock order for every run
                    traces += recompute_traces(project_id, by_project[project_id])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in {"40P01", "40001"}:
                raise
            failures += 1
            continue
        if not by_project:
            break
        projects.update(by_project)
    while buckets < max_buckets and failures < 3:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_BUCKET_CLAIM, {"limit": CLAIM_BATCH})
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
        buckets += len(claimed)
        projects.update(bucket.project_id for bucket in claimed)
    _recompute_dirty_days()
    refresh_months()
    return DirtyRun(traces, buckets, frozenset(projects))


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
        local_today = ProjectCalendar(ZoneInfo(zones[project_id])).date_of(now)
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
            cursor.execute(_DAY_CLAIM, {"limit": CLAIM_BATCH})
            claimed = cursor.fetchall()
            for project_id, day in claimed:
                recompute_day(project_id, day)
        if not claimed:
            return


def rebuild_project(project_id: int) -> int:
    """Drop and rebuild every rollup of a project from its raw calls (rollups are derived).
    Returns the number of traces recomputed."""
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_project(cursor, project_id)
        for table in ("usage_rolluphour", "usage_rollupday", "usage_rollupmonth", "usage_requestrollup"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM usage_rolluppart WHERE project_id = %s", [project_id])
        cursor.execute("SELECT DISTINCT trace_id FROM usage_llmcall WHERE project_id = %s", [project_id])
        done = recompute_traces(project_id, [row[0] for row in cursor.fetchall()])
    _recompute_dirty_days()
    refresh_months()
    return done
