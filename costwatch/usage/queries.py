"""Reading costs: rollups for plain group-bys, raw calls when a filter cuts across dimensions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from costwatch.projects.calendar import ProjectCalendar, previous_month
from costwatch.projects.models import Project
from costwatch.usage.dimensions import OTHER
from costwatch.usage.forecast import forecast
from costwatch.usage.models import CustomDimension, LlmCall
from costwatch.usage.rollups import CALL_STATE_SUMS, METRIC_COLUMNS, effective_calls_sql
from costwatch.usage.services import BUCKET_SQL, bucket_minutes

GROUPS = ("user", "feature", "endpoint", "model", "provider", "conversation", "day", "hour")
FILTERS = ("user", "feature", "endpoint", "model", "provider", "conversation")
ORDERINGS = ("key", "cost_usd", "input_tokens", "output_tokens", "llm_calls", "requests", "savings_usd")

# The column of ``rollups.effective_calls_sql``'s ``eff`` that holds a call's resolved value per
# built-in dimension: the one definition every raw-call query (here and in ``pages``) groups by.
EFFECTIVE_COLUMN = {
    "user": "e_user",
    "feature": "e_feature",
    "endpoint": "e_endpoint",
    "model": "e_model",
    "provider": "e_provider",
    "conversation": "e_session",
}


class QueryError(ValueError):
    """A bad query parameter; the message says which and what is allowed."""


class QueryTimeout(RuntimeError):
    """A cost query ran past COSTWATCH_QUERY_TIMEOUT_MS and was cancelled."""


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


@dataclass
class CostRow:
    """One group's totals. ``cost_usd`` and its parts sum the priced calls only: see
    ``unpriced_calls`` and ``unknown_usage_calls`` for the calls whose cost is not known, and
    ``known_cost_usd`` (None when no call of the group is priced) for what to show."""

    key: str
    cost_usd: Decimal = Decimal(0)
    cost_input_usd: Decimal = Decimal(0)
    cost_cache_read_usd: Decimal = Decimal(0)
    cost_cache_write_usd: Decimal = Decimal(0)
    cost_output_usd: Decimal = Decimal(0)
    savings_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    llm_calls: int = 0
    requests: int = 0
    errors: int = 0
    response_cache_hits: int = 0
    unpriced_calls: int = 0
    unknown_usage_calls: int = 0
    estimated_calls: int = 0
    priced_calls: int = 0
    inferred_calls: int = 0
    approximate_calls: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def known_cost_usd(self) -> Decimal | None:
        """The cost of the priced calls, or None when no call is priced (unknown, never $0)."""
        return self.cost_usd if self.priced_calls or not self.llm_calls else None

    @property
    def cost_complete(self) -> bool:
        """Whether every call's cost is known (no unpriced model, no unknown usage)."""
        return self.priced_calls == self.llm_calls

    @property
    def prompt_cache_hit_rate(self) -> float | None:
        prompt = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        return round(self.cache_read_tokens / prompt, 4) if prompt else None

    @property
    def response_cache_hit_rate(self) -> float | None:
        return round(self.response_cache_hits / self.llm_calls, 4) if self.llm_calls else None

    @property
    def avg_cost_per_request_usd(self) -> Decimal | None:
        """Cost per request, only when every call is priced (a partial cost would understate it)."""
        return self.cost_usd / self.requests if self.requests and self.cost_complete else None


# The CostRow fields the SQL sums below select, in their order (after the group key): the rollup
# columns (METRIC_COLUMNS), the money ones with their _usd suffix.
METRICS = [f"{column}_usd" if column.startswith("cost") or column == "savings" else column for column in METRIC_COLUMNS]
# The METRICS summed over rollup rows (usage_rollup*), and over ``eff`` raw calls (RAW_SUMS needs
# %(start)s: a request counts in the period its first call falls in).
ROLLUP_SUMS = """COALESCE(sum(cost), 0) AS cost_usd, COALESCE(sum(cost_input), 0),
    COALESCE(sum(cost_cache_read), 0), COALESCE(sum(cost_cache_write), 0), COALESCE(sum(cost_output), 0),
    COALESCE(sum(savings), 0) AS savings_usd, COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
    COALESCE(sum(cache_read_tokens), 0)::bigint, COALESCE(sum(cache_write_tokens), 0)::bigint,
    COALESCE(sum(output_tokens), 0)::bigint AS output_tokens, COALESCE(sum(reasoning_tokens), 0)::bigint,
    COALESCE(sum(llm_calls), 0)::bigint AS llm_calls, COALESCE(sum(requests), 0)::bigint AS requests,
    COALESCE(sum(errors), 0)::bigint, COALESCE(sum(response_cache_hits), 0)::bigint,
    COALESCE(sum(unpriced_calls), 0)::bigint, COALESCE(sum(unknown_usage_calls), 0)::bigint,
    COALESCE(sum(estimated_calls), 0)::bigint, COALESCE(sum(priced_calls), 0)::bigint,
    COALESCE(sum(inferred_calls), 0)::bigint, COALESCE(sum(approximate_calls), 0)::bigint"""
RAW_SUMS = (
    """COALESCE(sum(cost_total), 0) AS cost_usd, COALESCE(sum(cost_input), 0),
    COALESCE(sum(cost_cache_read), 0), COALESCE(sum(cost_cache_write), 0), COALESCE(sum(cost_output), 0),
    COALESCE(sum(list_cost - cost_total) FILTER (WHERE list_cost IS NOT NULL), 0) AS savings_usd,
    COALESCE(sum(input_tokens), 0)::bigint AS input_tokens, COALESCE(sum(cache_read_tokens), 0)::bigint,
    COALESCE(sum(cache_write_tokens + cache_write_1h_tokens), 0)::bigint,
    COALESCE(sum(output_tokens), 0)::bigint AS output_tokens, COALESCE(sum(reasoning_tokens), 0)::bigint,
    count(*) AS llm_calls, count(DISTINCT trace_id) FILTER (WHERE first_at >= %(start)s) AS requests,
    count(*) FILTER (WHERE is_error), count(*) FILTER (WHERE response_cache_hit),
    """
    + CALL_STATE_SUMS
)


def _moment(value: str, tz: ZoneInfo, *, end: bool) -> datetime:
    parsed_dt = parse_datetime(value) if "T" in value or " " in value else None
    if parsed_dt is not None:
        return parsed_dt if parsed_dt.tzinfo else parsed_dt.replace(tzinfo=tz)
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise QueryError(f"{'end' if end else 'start'}={value!r} is not a date (YYYY-MM-DD) or an ISO 8601 datetime")
    # An end date is inclusive: the whole day, in the project's time zone.
    return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=tz)


def period_of(project: Project, start: str | None, end: str | None, *, now: datetime | None = None) -> Period:
    """The asked period in UTC; by default this month so far in the project's time zone."""
    tz = project.tz
    calendar = ProjectCalendar(tz)
    today = calendar.date_of(now or timezone.now())
    begin = _moment(start, tz, end=False) if start else calendar.month(today).start
    finish = _moment(end, tz, end=True) if end else calendar.day(today).end
    if finish <= begin:
        raise QueryError("end must be after start")
    if finish - begin > timedelta(days=800):
        raise QueryError("a period may span at most 800 days")
    return Period(begin.astimezone(ZoneInfo("UTC")), finish.astimezone(ZoneInfo("UTC")))


@dataclass(frozen=True)
class CostPage:
    rows: list[CostRow]
    total: int  # groups in the whole result, before limit/offset


def _rollup_query(
    project: Project, group_by: str, period: Period, custom: dict[str, CustomDimension] | None = None
) -> tuple[str, dict[str, Any]]:
    custom = custom or {}
    dimension = custom[group_by].rollup_dimension if group_by in custom else group_by
    params: dict[str, Any] = {
        "project": project.pk,
        "tz": project.timezone,
        "dimension": "total" if group_by in {"day", "hour"} else dimension,
    }
    days = ProjectCalendar.of(project).whole_days(period.start, period.end) if group_by != "hour" else None
    if days is not None and group_by == "day":
        params.update(first_day=days[0], end_day=days[1])
        return (
            f"""SELECT to_char(day, 'YYYY-MM-DD') AS k, {ROLLUP_SUMS} FROM usage_rollupday
                    WHERE project_id = %(project)s AND dimension = %(dimension)s
                      AND day >= %(first_day)s AND day < %(end_day)s GROUP BY k""",
            params,
        )
    if days is not None:
        return _day_range_query(project, days, params)
    params.update(start=period.start, end=period.end)
    if group_by == "day":
        key_sql = "to_char(hour AT TIME ZONE %(tz)s, 'YYYY-MM-DD')"
    elif group_by == "hour":
        key_sql = "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:00\"Z\"')"
    else:
        key_sql = "key"
    return (
        f"""SELECT {key_sql} AS k, {ROLLUP_SUMS} FROM usage_rolluphour
                WHERE project_id = %(project)s AND dimension = %(dimension)s
                  AND hour >= %(start)s AND hour < %(end)s GROUP BY k""",
        params,
    )


def _day_range_query(project: Project, days: tuple[date, date], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Whole local days: month caches where they fit inside the range, day rows for the rest."""
    first, end = days
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT DISTINCT month, through FROM usage_rollupmonth
               WHERE project_id = %s AND dimension = 'total' AND month >= %s AND through <= %s""",
            [project.pk, first, end],
        )
        months = sorted(cursor.fetchall())
    parts = []
    day_ranges = []
    cursor_day = first
    for i, (month, through) in enumerate(months):
        params[f"m{i}"] = month
        parts.append(f"""SELECT key, {_METRIC_LIST} FROM usage_rollupmonth
                         WHERE project_id = %(project)s AND dimension = %(dimension)s AND month = %(m{i})s""")
        day_ranges.append((cursor_day, month))
        cursor_day = through
    day_ranges.append((cursor_day, end))
    for i, (lo, hi) in enumerate(r for r in day_ranges if r[0] < r[1]):
        params.update({f"d{i}lo": lo, f"d{i}hi": hi})
        parts.append(f"""SELECT key, {_METRIC_LIST} FROM usage_rollupday
                         WHERE project_id = %(project)s AND dimension = %(dimension)s
                           AND day >= %(d{i}lo)s AND day < %(d{i}hi)s""")
    union = " UNION ALL ".join(parts) if parts else f"SELECT key, {_METRIC_LIST} FROM usage_rollupday WHERE FALSE"
    return f"SELECT key AS k, {ROLLUP_SUMS} FROM ({union}) AS pieces GROUP BY k", params


_METRIC_LIST = ", ".join(METRIC_COLUMNS)

_SQL_ORDER = {
    "key": "k",
    "cost_usd": "cost_usd",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "llm_calls": "llm_calls",
    "requests": "requests",
    "savings_usd": "savings_usd",
}


def cost_page(
    project: Project,
    group_by: str,
    period: Period,
    filters: Mapping[str, str | None] | None = None,
    *,
    ordering: str = "-cost_usd",
    limit: int | None = None,
    offset: int = 0,
) -> CostPage:
    """One row per group over the period, ordered and cut in SQL so only one page is built.

    ``filters`` maps a filter (or custom dimension) name to its value; a None value filters nothing.

    Plain group-bys read the rollups (day rollups when the period is whole local days); a
    filter reads raw calls, since rollups have one dimension each.
    """
    custom = custom_dimensions(project)
    if group_by not in GROUPS and group_by not in custom:
        raise QueryError(f"group_by={group_by!r} is not one of {', '.join([*GROUPS, *custom])}")
    active = {k: v for k, v in (filters or {}).items() if v is not None}
    unknown = set(active) - set(FILTERS) - set(custom)
    if unknown:
        raise QueryError(f"unknown filter(s) {', '.join(sorted(unknown))}; allowed: {', '.join([*FILTERS, *custom])}")
    name = ordering.lstrip("-")
    if name not in _SQL_ORDER:
        raise QueryError(f"ordering={ordering!r}; use one of {', '.join(ORDERINGS)} (prefix - for descending)")
    direction = "DESC" if ordering.startswith("-") else "ASC"
    sql, params = (
        _raw_query(project, group_by, period, active, custom)
        if active
        else _rollup_query(project, group_by, period, custom)
    )
    params.update(limit=limit, offset=offset)
    paged = (
        f"SELECT *, count(*) OVER () AS total FROM ({sql}) AS groups "
        f"ORDER BY {_SQL_ORDER[name]} {direction}, k {direction} LIMIT %(limit)s OFFSET %(offset)s"
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # A cost query that runs away answers with a clear error instead of tying up a worker.
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{settings.COSTWATCH_QUERY_TIMEOUT_MS}ms"]
            )
            cursor.execute(paged, params)
            fetched = cursor.fetchall()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled
            raise
        raise QueryTimeout(
            f"this query took longer than {settings.COSTWATCH_QUERY_TIMEOUT_MS / 1000:g} s; "
            "narrow the period or the filters"
        ) from None
    if not fetched and offset:
        total = cost_page(project, group_by, period, active, ordering=ordering, limit=1).total
    else:
        total = fetched[0][-1] if fetched else 0
    return CostPage([CostRow(row[0], **dict(zip(METRICS, row[1:-1]))) for row in fetched], total)


def cost_rows(project: Project, group_by: str, period: Period, filters: dict[str, str] | None = None) -> list[CostRow]:
    """Every group over the period, unordered (see ``cost_page`` for one ordered page)."""
    return cost_page(project, group_by, period, filters, ordering="key").rows


def custom_dimensions(project: Project) -> dict[str, CustomDimension]:
    """The project's custom dimensions by name: each is a group_by and a filter of the cost queries."""
    return {d.name: d for d in CustomDimension.objects.filter(project=project)}


def dimension_key_sql(dimension: CustomDimension, alias: str) -> str:
    """A call's key for a custom dimension: its resolved value, or (other) on a local day the
    dimension overflowed when the value is not among the day's admitted ones (as in the rollups)."""
    pk = int(dimension.pk)
    day = "(eff.started_at AT TIME ZONE %(tz)s)::date"
    return f"""CASE WHEN {alias}.value <> ''
                 AND EXISTS (SELECT 1 FROM usage_dimensionoverflow o WHERE o.dimension_id = {pk} AND o.day = {day})
                 AND NOT EXISTS (SELECT 1 FROM usage_dimensionvalue v WHERE v.dimension_id = {pk} AND v.day = {day}
                                   AND md5(v.value) = md5({alias}.value) AND v.value = {alias}.value)
               THEN '{OTHER}' ELSE {alias}.value END"""


def _raw_query(
    project: Project,
    group_by: str,
    period: Period,
    filters: dict[str, str],
    custom: dict[str, CustomDimension] | None = None,
) -> tuple[str, dict[str, Any]]:
    custom = custom or {}
    params: dict[str, Any] = {"project": project.pk, "start": period.start, "end": period.end, "tz": project.timezone}
    used = [custom[name] for name in sorted({group_by, *filters}) if name in custom]
    joins = "".join(
        f" LEFT JOIN eff_dims dim{d.pk} ON dim{d.pk}.id = eff.id AND dim{d.pk}.dim = '{int(d.pk)}'" for d in used
    )
    columns = {d.name: dimension_key_sql(d, f"dim{d.pk}") for d in used}
    if used:
        params["dims"] = [str(d.pk) for d in used]
    if group_by == "day":
        key_sql = "to_char(started_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD')"
    elif group_by == "hour":
        params["bucket_minutes"] = bucket_minutes(project.tz)
        key_sql = (
            f"to_char({BUCKET_SQL.format(column='started_at')} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:00\"Z\"')"
        )
    else:
        key_sql = columns.get(group_by) or EFFECTIVE_COLUMN[group_by]
    conditions = []
    for i, (name, value) in enumerate(sorted(filters.items())):
        params[f"f{i}"] = value
        if name == "model":
            # Any name of the model finds its calls: the catalog key, the name the app sent, the
            # name it asked for, or another name that resolves to the same price key.
            params[f"f{i}key"] = model_key_of(project, value)
            conditions.append(
                f"(e_model = %(f{i})s OR e_model = %(f{i}key)s OR model = %(f{i})s OR request_model = %(f{i})s)"
            )
        else:
            conditions.append(f"{columns.get(name) or EFFECTIVE_COLUMN[name]} = %(f{i})s")
    where = " AND ".join(conditions) or "TRUE"
    scope = "c.started_at >= %(start)s AND c.started_at < %(end)s"
    if "user" in filters:
        # Narrow the scan by index to calls of that user, or of traces attributed to them.
        params["user_filter"] = filters["user"]
        scope += """ AND (c."user" = %(user_filter)s OR (c."user" = '' AND c.trace_id IN (
            SELECT trace_id FROM usage_spanattribution
            WHERE project_id = %(project)s AND "user" = %(user_filter)s)))"""
    sql = (
        effective_calls_sql(scope, dimensions=bool(used))
        + f"""
        SELECT {key_sql} AS k, {RAW_SUMS} FROM eff{joins} WHERE counted AND {where} GROUP BY k"""
    )
    return sql, params


def model_key_of(project: Project, name: str) -> str:
    """The catalog key a model name resolves to for this project (its overrides and aliases
    first), or the name itself when no price matches it."""
    from costwatch.pricing.pricebook import PriceBook

    priced = PriceBook(project).price_for(name, timezone.now())
    return priced.row.model if priced is not None else name


def order_rows(rows: list[CostRow], ordering: str) -> list[CostRow]:
    name = ordering.lstrip("-")
    if name not in ORDERINGS:
        raise QueryError(f"ordering={ordering!r}; use one of {', '.join(ORDERINGS)} (prefix - for descending)")
    descending = ordering.startswith("-")
    return sorted(rows, key=lambda r: (getattr(r, name), r.key), reverse=descending)


def sum_rows(rows: list[CostRow], key: str) -> CostRow:
    """One row adding up several (e.g. a group's days into its total over the period)."""
    total = CostRow(key)
    for row in rows:
        for metric in METRICS:
            setattr(total, metric, getattr(total, metric) + getattr(row, metric))
    return total


def total_of(project: Project, period: Period) -> CostRow:
    return sum_rows(cost_rows(project, "day", period), "total")


@dataclass(frozen=True)
class RequestCall:
    """A stored call of a request with what the rollup decided for it: its resolved attribution and
    whether it is counted (False: a duplicate recording of a call counted in another span)."""

    call: LlmCall
    counted: bool
    user: str
    feature: str
    endpoint: str
    session: str
    dimensions: dict[str, str] = field(default_factory=dict)  # custom dimension name -> value ('' = not set)


def request_calls(project: Project, trace_id: str) -> list[RequestCall]:
    """Every stored call of one trace, in start order, resolved by the rollup's own rules
    (custom dimensions included)."""
    custom = custom_dimensions(project)
    names = {str(d.pk): name for name, d in custom.items()}
    sql = (
        effective_calls_sql("c.trace_id = %(trace)s", dimensions=bool(custom))
        + """
        SELECT id, counted, e_user, e_feature, e_endpoint, e_session, {dims} FROM eff""".format(
            dims="(SELECT jsonb_object_agg(d.dim, d.value) FROM eff_dims d WHERE d.id = eff.id)" if custom else "NULL"
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"project": project.pk, "trace": trace_id, "dims": list(names)})
        resolved = {}
        for row in cursor.fetchall():
            values = row[6] if isinstance(row[6], dict) else json.loads(row[6]) if row[6] else {}
            resolved[row[0]] = (
                *row[1:6],
                {names[k]: v for k, v in sorted(values.items(), key=lambda kv: names[kv[0]])},
            )
    calls = (
        LlmCall.objects.filter(project=project, trace_id=trace_id, id__in=list(resolved))
        .select_related("price")
        .order_by("started_at", "span_id")
    )
    return [RequestCall(call, *resolved[call.id]) for call in calls]


@dataclass(frozen=True)
class Summary:
    """Spend per period in USD: the priced calls' cost, None when the period has calls but none is
    priced. ``periods`` holds each period's full row (unpriced and unknown-usage counts)."""

    today: Decimal | None
    yesterday: Decimal | None
    month_to_date: Decimal | None
    previous_month_to_date: Decimal | None
    previous_month: Decimal | None
    forecast_month_end: Decimal | None
    unpriced_calls_this_month: int
    unknown_usage_calls_this_month: int
    savings_month_to_date: Decimal
    periods: dict[str, CostRow] = field(default_factory=dict)


def summary_of(project: Project, *, now: datetime | None = None) -> Summary:
    """Today, month to date and a month-end forecast at this month's pace, against the previous period.

    The forecast extrapolates the month-to-date spend linearly over the elapsed share of the month
    (``costwatch.usage.forecast``); "previous month to date" is the same share of the previous month.
    """
    calendar = ProjectCalendar.of(project)
    now = now or timezone.now()
    today = calendar.date_of(now)

    def spend(start: datetime, end: datetime) -> CostRow:
        return total_of(project, Period(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))))

    day, yesterday = calendar.day(today), calendar.day(today - timedelta(days=1))
    month, previous = calendar.month(today), calendar.month(previous_month(today))
    share = (now - month.start) / (month.end - month.start)
    periods = {
        "today": spend(day.start, day.end),
        "yesterday": spend(yesterday.start, yesterday.end),
        "month_to_date": spend(month.start, now),
        "previous_month_to_date": spend(previous.start, previous.start + (previous.end - previous.start) * share),
        "previous_month": spend(previous.start, previous.end),
    }
    mtd = periods["month_to_date"]
    known = mtd.known_cost_usd
    return Summary(
        today=periods["today"].known_cost_usd,
        yesterday=periods["yesterday"].known_cost_usd,
        month_to_date=known,
        previous_month_to_date=periods["previous_month_to_date"].known_cost_usd,
        previous_month=periods["previous_month"].known_cost_usd,
        forecast_month_end=None if known is None else forecast(known, month.elapsed_fraction(now)),
        unpriced_calls_this_month=mtd.unpriced_calls,
        unknown_usage_calls_this_month=mtd.unknown_usage_calls,
        savings_month_to_date=mtd.savings_usd,
        periods=periods,
    )


@dataclass(frozen=True)
class Comparison:
    """Two values of one custom dimension side by side over a period, optionally within one feature:
    the A/B question. Each side is the values' summed row (zero when the value has no call)."""

    dimension: str
    feature: str | None
    a: CostRow
    b: CostRow

    @staticmethod
    def per_request(row: CostRow) -> dict[str, Any]:
        """Per-request figures of one side: cost (USD Decimal, only when every call is priced), tokens,
        cache hit rates and the share of calls that failed (floats); None where the side has no request / call."""
        tokens = row.input_tokens + row.cache_read_tokens + row.cache_write_tokens + row.output_tokens
        return {
            "cost_per_request_usd": row.avg_cost_per_request_usd,
            "tokens_per_request": round(tokens / row.requests, 1) if row.requests else None,
            "input_tokens_per_request": round(
                (row.input_tokens + row.cache_read_tokens + row.cache_write_tokens) / row.requests, 1
            )
            if row.requests
            else None,
            "output_tokens_per_request": round(row.output_tokens / row.requests, 1) if row.requests else None,
            "calls_per_request": round(row.llm_calls / row.requests, 3) if row.requests else None,
            "prompt_cache_hit_rate": row.prompt_cache_hit_rate,
            "response_cache_hit_rate": row.response_cache_hit_rate,
            "error_rate": round(row.errors / row.llm_calls, 4) if row.llm_calls else None,
        }


def compare(
    project: Project, dimension: str, a: str, b: str, period: Period, *, feature: str | None = None
) -> Comparison:
    """Values ``a`` and ``b`` of the custom dimension ``dimension`` over ``period``, within
    ``feature`` when given (read from raw calls then, as every filtered query). Raises QueryError
    for a dimension the project does not have."""
    if dimension not in custom_dimensions(project):
        raise QueryError(f"dimension={dimension!r} is not a custom dimension of this project")
    if a == b:
        raise QueryError("a and b must be two different values")
    filters = {"feature": feature} if feature is not None else {}
    rows = {row.key: row for row in cost_rows(project, dimension, period, filters)}
    return Comparison(dimension, feature, rows.get(a) or CostRow(a), rows.get(b) or CostRow(b))
