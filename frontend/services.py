"""Presentation shaping for the pages: date-range choices, table sorting/search/paging, chart data.

Nothing here computes money: costs come from ``costwatch.usage.queries`` / ``costwatch.usage.pages``
and are only arranged (sorted, cut to a page, grouped into chart series) for display.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.http import QueryDict
from django.utils import timezone

from costwatch.projects.calendar import ProjectCalendar, month_start, previous_month
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from costwatch.usage.pages import DayCost
from costwatch.usage.queries import (
    ORDERINGS,
    CostRow,
    Period,
    QueryError,
    order_rows,
    period_of,
)

PAGE_SIZE = 50
CHART_SERIES = 6  # largest groups drawn separately; the rest are summed as "other"
# Colour-blind-safe palette (Okabe–Ito), readable on white.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7f7f7f"]

DIMENSIONS = {
    "users": ("user", "User", "Users"),
    "features": ("feature", "Feature", "Features"),
    "endpoints": ("endpoint", "Endpoint", "Endpoints"),
    "models": ("model", "Model", "Models"),
}
# Which other dimensions a group's page splits its spend by.
BREAKDOWNS = {
    "user": ("feature", "model"),
    "feature": ("model", "user"),
    "endpoint": ("feature", "model"),
    "model": ("feature", "user"),
}
COLUMNS = [  # (ordering field, heading); headings are sortable when the field is an ordering
    ("key", None),
    ("cost_usd", "Spend"),
    ("requests", "Requests"),
    ("llm_calls", "LLM calls"),
    ("input_tokens", "Prompt tokens"),
    ("output_tokens", "Output tokens"),
    ("savings_usd", "Saved by caching"),
]


@dataclass(frozen=True)
class DateRange:
    period: Period
    start: date  # inclusive, project-local
    end: date    # inclusive, project-local
    preset: str
    error: str = ""

    def query(self) -> str:
        return f"start={self.start.isoformat()}&end={self.end.isoformat()}"


PRESETS = [("mtd", "This month"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("last_month", "Last month")]


def _preset_dates(preset: str, today: date) -> tuple[date, date]:
    if preset == "7d":
        return today - timedelta(days=6), today
    if preset == "30d":
        return today - timedelta(days=29), today
    if preset == "last_month":
        return previous_month(today), month_start(today) - timedelta(days=1)
    return month_start(today), today


def date_range_of(project: Project, params: QueryDict, *, now: datetime | None = None) -> DateRange:
    """The period asked for by ?preset= or ?start=&end= (local dates, end inclusive); this month by default."""
    calendar = ProjectCalendar.of(project)
    today = calendar.date_of(now or timezone.now())
    preset = params.get("preset", "")
    start, end = params.get("start") or None, params.get("end") or None
    if preset or not (start or end):
        first, last = _preset_dates(preset or "mtd", today)
        start, end = first.isoformat(), last.isoformat()
        preset = preset or "mtd"
    error = ""
    try:
        period = period_of(project, start, end, now=now)
    except QueryError as exc:
        error = str(exc)
        first, last = _preset_dates("mtd", today)
        preset, start, end = "mtd", first.isoformat(), last.isoformat()
        period = period_of(project, start, end, now=now)
    local_start, local_end = calendar.days_of(period.start, period.end)
    matching = [value for value, _ in PRESETS if _preset_dates(value, today) == (local_start, local_end)]
    return DateRange(period, local_start, local_end, matching[0] if matching else "", error)


@dataclass
class Table:
    rows: list[CostRow]
    total_rows: int
    sort: str
    query: str
    page: int
    pages: int
    columns: list[tuple[str, str | None]] = field(default_factory=lambda: COLUMNS)


@dataclass(frozen=True)
class TableQuery:
    sort: str    # an ordering of costwatch.usage.queries (prefix - for descending)
    search: str  # case-insensitive substring of the key; empty = all
    page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def table_query_of(params: QueryDict, *, default_sort: str = "-cost_usd") -> TableQuery:
    """What the table was asked for: ?sort=, ?q= and ?page= (bad values fall back to the defaults)."""
    sort = params.get("sort", default_sort)
    raw_page = params.get("page", "1")
    return TableQuery(sort if sort.lstrip("-") in ORDERINGS else default_sort, params.get("q", "").strip(),
                      max(int(raw_page), 1) if raw_page.isdigit() else 1)


def searched(rows: list[CostRow], asked: TableQuery) -> list[CostRow]:
    """The rows whose key contains the search, in the asked order."""
    needle = asked.search.casefold()
    return order_rows([row for row in rows if needle in row.key.casefold()], asked.sort)


def table_of(rows: list[CostRow], total: int, asked: TableQuery) -> Table:
    """One page of a table whose rows are already sorted (and cut to the page when total > len(rows))."""
    if total == len(rows) and len(rows) > PAGE_SIZE:
        rows = rows[asked.offset: asked.offset + PAGE_SIZE]
    pages = max(1, -(-total // PAGE_SIZE))
    return Table(rows, total, asked.sort, asked.search, min(asked.page, pages), pages)


def stacked_chart(days: list[DayCost], start: date, end: date) -> dict[str, object]:
    """Chart.js data for spend per day stacked by group: the largest groups, the rest as "other"."""
    totals: dict[str, Decimal] = {}
    for item in days:
        totals[item.key] = totals.get(item.key, Decimal(0)) + item.cost_usd
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    shown = ranked[:CHART_SERIES]
    labels = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    index = {label: i for i, label in enumerate(labels)}
    series: dict[str, list[Decimal]] = {key: [Decimal(0)] * len(labels) for key in shown}
    if len(ranked) > CHART_SERIES:
        series["other"] = [Decimal(0)] * len(labels)
    for item in days:
        i = index.get(item.day.isoformat())
        if i is not None:
            name = item.key if item.key in shown else "other"
            series[name][i] += item.cost_usd
    return {
        "labels": labels,
        "datasets": [
            {"label": name or "(none)", "data": [float(v) for v in values],  # chart drawing only, not money math
             "backgroundColor": PALETTE[i % len(PALETTE)], "stack": "spend"}
            for i, (name, values) in enumerate(series.items())
        ],
    }


def daily_chart(rows: list[CostRow], start: date, end: date, label: str = "Spend") -> dict[str, object]:
    """Chart.js data for one spend series per local day (days without spend are zero)."""
    by_day = {row.key: row.cost_usd for row in rows}
    labels = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    return {
        "labels": labels,
        "datasets": [{"label": label, "data": [float(by_day.get(d, 0)) for d in labels],
                      "backgroundColor": PALETTE[0], "stack": "spend"}],
    }


def change(current: Decimal | None, previous: Decimal | None) -> dict[str, object] | None:
    """The relative change against the previous period, for a badge ("+12%"), or None without a base
    (or when either amount is unknown)."""
    if current is None or not previous:
        return None
    ratio = (current - previous) / previous
    return {"percent": round(ratio * 100), "up": ratio > 0}


def permissions_of(user, project: Project) -> dict[str, bool]:  # noqa: ANN001 - a Django user
    """What the page may offer this person (links, buttons), straight from the role table."""
    return {action.value: can(user, project, action) for action in Action}
