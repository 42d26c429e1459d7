"""Presentation shaping for the pages: date-range choices, table sorting/search/paging, chart data.

Nothing here computes money: costs come from ``costwatch.usage.queries`` / ``costwatch.usage.pages``
and are only arranged (sorted, cut to a page, grouped into chart series) for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils import timezone

from costwatch.projects.calendar import ProjectCalendar, month_start, previous_month
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from costwatch.usage.dimensions import OTHER, dimension_named, dimensions_of
from costwatch.usage.models import CustomDimension
from costwatch.usage.pages import DayCost
from costwatch.usage.queries import (
    ORDERINGS,
    Comparison,
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
# How a custom dimension's empty key (calls without a value) reads on the pages.
NOT_SET = "(not set)"
# What a custom dimension's group page splits its spend by, before the project's other dimensions.
CUSTOM_BREAKDOWNS = ("feature", "model", "user")


@dataclass(frozen=True)
class GroupKind:
    """What one group table and its group pages show: a built-in dimension (``DIMENSIONS``) or
    one of the project's custom dimensions. The views and templates read everything from here,
    so the users/features/endpoints/models pages and a custom dimension's pages are one code path."""

    slug: str  # the URL's part: "users", or the custom dimension's name
    group_by: str  # the cost queries' group_by: "user", or the custom dimension's name
    rollup_dimension: str  # RollupHour.dimension of its rows: "user", or "dim:<id>"
    singular: str  # "User", "Tenant"
    plural: str  # "Users", "Tenant values"
    breakdowns: tuple[str, ...]  # group_bys its group page splits one group's spend by
    list_url: str
    detail_url: str  # add ?key=
    breakdown_url: str  # add ?key=&by=
    custom: CustomDimension | None = None

    @property
    def empty_label(self) -> str:
        """How the empty key reads: calls without a value of a custom dimension are "(not set)"."""
        return NOT_SET if self.custom else "(none)"

    @property
    def heading(self) -> str:
        return self.singular if self.custom else self.plural


def dimension_label(name: str) -> str:
    """A custom dimension's name as a heading: "ab_variant" → "Ab variant"."""
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def builtin_group(project: Project, slug: str) -> GroupKind:
    """The group kind of a built-in page slug ("users", ...); 404 for any other."""
    if slug not in DIMENSIONS:
        raise Http404("No such page.")
    group_by, singular, plural = DIMENSIONS[slug]
    args = [project.slug, slug]
    return GroupKind(
        slug,
        group_by,
        group_by,
        singular,
        plural,
        BREAKDOWNS[group_by],
        reverse("frontend:groups", args=args),
        reverse("frontend:group", args=args),
        reverse("frontend:group-breakdown", args=args),
    )


def custom_group(
    project: Project, dimension: CustomDimension, others: list[CustomDimension] | None = None
) -> GroupKind:
    """The group kind of a custom dimension; its group page splits by feature, model, user and the
    project's other custom dimensions (``others``, read when not given)."""
    others = dimensions_of(project) if others is None else others
    label = dimension_label(dimension.name)
    args = [project.slug, dimension.name]
    return GroupKind(
        dimension.name,
        dimension.name,
        dimension.rollup_dimension,
        label,
        f"{label} values",
        (*CUSTOM_BREAKDOWNS, *(d.name for d in others if d.pk != dimension.pk)),
        reverse("frontend:dimension", args=args),
        reverse("frontend:dimension-group", args=args),
        reverse("frontend:dimension-breakdown", args=args),
        custom=dimension,
    )


def custom_group_named(project: Project, name: str) -> GroupKind:
    """The group kind of the project's custom dimension ``name``; 404 when it has none of that name."""
    dimension = dimension_named(project, name)
    if dimension is None:
        raise Http404(f"This project has no dimension named {name!r}.")
    return custom_group(project, dimension)


def group_of(project: Project, group_by: str) -> GroupKind:
    """The group kind of a cost query's group_by: a built-in one ("feature") or a custom dimension's name."""
    for slug, (name, _, _) in DIMENSIONS.items():
        if name == group_by:
            return builtin_group(project, slug)
    return custom_group_named(project, group_by)


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
    end: date  # inclusive, project-local
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
    sort: str  # an ordering of costwatch.usage.queries (prefix - for descending)
    search: str  # case-insensitive substring of the key; empty = all
    page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def table_query_of(params: QueryDict, *, default_sort: str = "-cost_usd") -> TableQuery:
    """What the table was asked for: ?sort=, ?q= and ?page= (bad values fall back to the defaults)."""
    sort = params.get("sort", default_sort)
    raw_page = params.get("page", "1")
    return TableQuery(
        sort if sort.lstrip("-") in ORDERINGS else default_sort,
        params.get("q", "").strip(),
        max(int(raw_page), 1) if raw_page.isdigit() else 1,
    )


def searched(rows: list[CostRow], asked: TableQuery) -> list[CostRow]:
    """The rows whose key contains the search, in the asked order."""
    needle = asked.search.casefold()
    return order_rows([row for row in rows if needle in row.key.casefold()], asked.sort)


def table_of(rows: list[CostRow], total: int, asked: TableQuery) -> Table:
    """One page of a table whose rows are already sorted (and cut to the page when total > len(rows))."""
    if total == len(rows) and len(rows) > PAGE_SIZE:
        rows = rows[asked.offset : asked.offset + PAGE_SIZE]
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
            {
                "label": name or "(none)",
                "data": [float(v) for v in values],  # chart drawing only, not money math
                "backgroundColor": PALETTE[i % len(PALETTE)],
                "stack": "spend",
            }
            for i, (name, values) in enumerate(series.items())
        ],
    }


def daily_chart(rows: list[CostRow], start: date, end: date, label: str = "Spend") -> dict[str, object]:
    """Chart.js data for one spend series per local day (days without spend are zero)."""
    by_day = {row.key: row.cost_usd for row in rows}
    labels = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    return {
        "labels": labels,
        "datasets": [
            {
                "label": label,
                "data": [float(by_day.get(d, 0)) for d in labels],
                "backgroundColor": PALETTE[0],
                "stack": "spend",
            }
        ],
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


# --- The A/B comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareLine:
    """One line of the comparison: a figure of side A and side B, and how B differs from A.

    ``kind`` says how to show the figures: "usd" (Decimal), "number" (a float of tokens or calls),
    "rate" (a share from 0 to 1), "count" (an int), "row_cost" (a side's CostRow: its priced cost
    with the calls not priced beside it) or "complete" (a side's CostRow: whether every call is
    priced). A figure that is None is unknown or has no base, and ``missing_a`` / ``missing_b`` say
    why ("no requests", "unknown: 3 of 40 calls not priced"), so it never reads as 0."""

    label: str
    kind: str
    a: object
    b: object
    delta: str = ""  # "+12%", "-1.5 pp"; "" when either side has no figure
    tone: str = ""  # "warn" when B is worse than A, "ok" when better, "" when neutral or equal
    missing_a: str = ""
    missing_b: str = ""
    help: str = ""


def _why_missing(row: CostRow, value: object, *, per: str) -> str:
    if value is not None:
        return ""
    if per == "request" and not row.requests:
        return "no requests"
    if per in ("call", "request") and not row.llm_calls:
        return "no calls"
    if per == "prompt":
        return "no prompt tokens"
    missing = row.llm_calls - row.priced_calls
    return f"unknown: {missing:,} of {row.llm_calls:,} calls not priced" if missing else "unknown"


def _relative(a: object, b: object) -> tuple[str, int]:
    """("+12%", sign of b - a), or ("", 0) without both figures or a base."""
    if a is None or b is None or not a:
        return "", 0
    ratio = (Decimal(str(b)) - Decimal(str(a))) / Decimal(str(a))
    percent = round(ratio * 100)
    return (f"{percent:+d}%" if percent else "±0%"), (ratio > 0) - (ratio < 0)


def _points(a: float | None, b: float | None) -> tuple[str, int]:
    """The difference of two rates in percentage points: ("-1.5 pp", sign), or ("", 0)."""
    if a is None or b is None:
        return "", 0
    points = round((b - a) * 100, 1)
    return (f"{points:+.1f} pp" if points else "±0 pp"), (points > 0) - (points < 0)


# (label, Comparison.per_request field, kind, what it is per, higher is better, help)
PER_REQUEST_LINES = [
    (
        "Cost per request",
        "cost_per_request_usd",
        "usd",
        "request",
        False,
        "Known only when every call of the side is priced: a partial sum would understate it.",
    ),
    (
        "Prompt tokens per request",
        "input_tokens_per_request",
        "number",
        "request",
        False,
        "Fresh prompt tokens, cache reads and cache writes.",
    ),
    ("Output tokens per request", "output_tokens_per_request", "number", "request", False, "Reasoning included."),
    ("LLM calls per request", "calls_per_request", "number", "request", False, ""),
    ("Prompt-cache hit rate", "prompt_cache_hit_rate", "rate", "prompt", True, "Prompt tokens read from the cache."),
    (
        "Response-cache hit rate",
        "response_cache_hit_rate",
        "rate",
        "call",
        True,
        "Calls the app answered from its own cache.",
    ),
    ("Error rate", "error_rate", "rate", "call", False, "Calls that failed."),
]


def comparison_lines(result: Comparison) -> tuple[list[CompareLine], list[CompareLine]]:
    """(per-request lines, totals lines) of a comparison, in reading order."""
    a, b = result.a, result.b
    pa, pb = Comparison.per_request(a), Comparison.per_request(b)
    per_request = []
    for label, name, kind, per, better_up, help_text in PER_REQUEST_LINES:
        va, vb = pa[name], pb[name]
        delta, sign = _points(va, vb) if kind == "rate" else _relative(va, vb)
        tone = "" if not sign else ("ok" if (sign > 0) == better_up else "warn")
        per_request.append(
            CompareLine(
                label, kind, va, vb, delta, tone, _why_missing(a, va, per=per), _why_missing(b, vb, per=per), help_text
            )
        )
    totals = []
    for label, name in [("Requests", "requests"), ("LLM calls", "llm_calls")]:
        delta, _ = _relative(getattr(a, name), getattr(b, name))
        totals.append(CompareLine(label, "count", getattr(a, name), getattr(b, name), delta))
    delta, _ = _relative(a.known_cost_usd if a.cost_complete else None, b.known_cost_usd if b.cost_complete else None)
    totals.append(
        CompareLine(
            "Cost",
            "row_cost",
            a,
            b,
            delta,
            help=(
                "The priced calls' cost; calls without a known cost (unpriced model or unknown usage) are shown "
                "beside it. No difference is shown unless both sides are complete."
            ),
        )
    )

    def completeness(row: CostRow) -> str:
        missing = row.llm_calls - row.priced_calls
        return "yes" if not missing else f"no: {missing:,} of {row.llm_calls:,} calls not priced"

    totals.append(
        CompareLine("Every call priced", "complete", a, b, missing_a=completeness(a), missing_b=completeness(b))
    )
    return per_request, totals


def per_request_chart(
    days_a: list[CostRow], days_b: list[CostRow], start: date, end: date, labels: tuple[str, str]
) -> dict[str, object]:
    """Chart.js data: each side's cost per request per local day (a gap on days where it is unknown
    or the side had no request)."""
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    datasets = []
    for i, (rows, label) in enumerate(zip((days_a, days_b), labels)):
        by_day = {row.key: row.avg_cost_per_request_usd for row in rows}
        datasets.append(
            {
                "label": label,
                "backgroundColor": PALETTE[i],
                # chart drawing only, not money math; None leaves a gap (unknown, not $0)
                "data": [float(cost) if (cost := by_day.get(d)) is not None else None for d in days],
            }
        )
    return {"labels": days, "datasets": datasets}


def default_pair(rows: list[CostRow]) -> tuple[str, str] | None:
    """The two values to compare when none is asked: the two largest by spend that are real values
    (not "(not set)" or "(other)"), in name order (so "A" comes before "B")."""
    values = [row.key for row in rows if row.key not in ("", OTHER)][:2]
    if len(values) != 2:
        return None
    first, second = sorted(values)
    return first, second
