"""Cost pages: overview, the users/features/endpoints/models tables and their group pages, a request."""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from costwatch.projects.models import Project
from costwatch.projects.permissions import Action
from costwatch.usage.api import csv_response, row_json
from costwatch.usage.models import LlmCall, RequestRollup
from costwatch.usage.pages import (
    breakdown_of,
    daily_cost_by,
    daily_rows_of,
    has_calls,
    recent_requests,
    sum_rows,
)
from costwatch.usage.queries import (
    cost_page,
    cost_rows,
    order_rows,
    request_calls,
    summary_of,
    total_of,
)
from frontend import services
from frontend.access import project_view, require
from frontend.budget_lines import budget_status_of


@project_view(Action.VIEW_COSTS)
def overview(request: HttpRequest, project: Project) -> HttpResponse:
    if not has_calls(project):
        return render(request, "frontend/empty.html", {"ingest_url": settings.COSTWATCH_PUBLIC_URL.rstrip("/") + "/v1/traces"})
    dates = services.date_range_of(project, request.GET)
    summary = summary_of(project)
    tops = [(services.DIMENSIONS[slug], slug, cost_page(project, services.DIMENSIONS[slug][0], dates.period, limit=5).rows)
            for slug in ("users", "features", "endpoints", "models")]
    return render(request, "frontend/overview.html", {
        "dates": dates,
        "summary": summary,
        "today_change": services.change(summary.today, summary.yesterday),
        "mtd_change": services.change(summary.month_to_date, summary.previous_month_to_date),
        "forecast_change": services.change(summary.forecast_month_end, summary.previous_month),
        "total": total_of(project, dates.period),
        "chart": services.stacked_chart(daily_cost_by(project, "model", dates.period), dates.start, dates.end),
        "tops": tops,
        "unpriced": [row for row in order_rows(cost_rows(project, "model", dates.period), "key") if row.unpriced_calls or row.unknown_usage_calls],
    })


def _dimension(slug: str) -> tuple[str, str, str]:
    if slug not in services.DIMENSIONS:
        raise Http404("No such page.")
    return services.DIMENSIONS[slug]


@project_view(Action.VIEW_COSTS)
def group_list(request: HttpRequest, project: Project, dimension: str) -> HttpResponse:
    name, singular, plural = _dimension(dimension)
    dates = services.date_range_of(project, request.GET)
    asked = services.table_query_of(request.GET)
    export = request.GET.get("format") == "csv"
    if export:
        require(request, Action.EXPORT_COSTS)
    if asked.search:
        rows = services.searched(cost_rows(project, name, dates.period), asked)
        total = len(rows)
        totals = sum_rows(rows, "total")
    else:
        # Sorted and cut to one page in SQL: a month of a big project has tens of thousands of users.
        page = cost_page(project, name, dates.period, ordering=asked.sort,
                         limit=None if export else services.PAGE_SIZE, offset=0 if export else asked.offset)
        rows, total = page.rows, page.total
        totals = None if export else total_of(project, dates.period)
    if export:
        return csv_response([row_json(row) for row in rows],
                            f"costwatch-{project.slug}-{dimension}-{dates.start:%Y%m%d}-{dates.end:%Y%m%d}.csv")
    context = {
        "dates": dates, "dimension": dimension, "singular": singular, "plural": plural,
        "table": services.table_of(rows, total, asked), "totals": totals,
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "group-table":
        return render(request, "frontend/_group_table.html", context)
    return render(request, "frontend/group_list.html", context)


@project_view(Action.VIEW_COSTS)
def group_detail(request: HttpRequest, project: Project, dimension: str) -> HttpResponse:
    name, singular, plural = _dimension(dimension)
    if "key" not in request.GET:
        raise Http404(f"Which {singular.lower()}? The link needs ?key=.")
    key = request.GET["key"]
    dates = services.date_range_of(project, request.GET)
    days = daily_rows_of(project, name, key, dates.period)
    if not any(day.llm_calls for day in days):
        return render(request, "frontend/no_spend.html", {
            "dates": dates, "dimension": dimension, "singular": singular, "plural": plural, "key": key,
        }, status=404)
    recent = recent_requests(project, name, key, dates.period)
    base = reverse("frontend:group-breakdown", args=[project.slug, dimension])
    breakdowns = [
        (services.DIMENSIONS[other + "s"][1], other + "s",
         f"{base}?{urlencode({'key': key, 'by': other, 'start': dates.start, 'end': dates.end})}")
        for other in services.BREAKDOWNS[name]
    ]
    return render(request, "frontend/group_detail.html", {
        "dates": dates, "dimension": dimension, "singular": singular, "plural": plural, "key": key,
        "total": sum_rows(days, key),
        "chart": services.daily_chart(days, dates.start, dates.end),
        "breakdowns": breakdowns,
        "recent": recent,
        "recent_total": _requests_total(recent),
        "budgets": budget_status_of(project, name, key),
    })


def _requests_total(requests: list) -> dict[str, object]:
    """The total of a list of requests: the priced calls' cost (None when none is priced: unknown,
    not $0), the counted calls and how many of them have no known cost."""
    priced = sum(r.priced_calls for r in requests)
    calls = sum(r.llm_calls for r in requests)
    return {"cost": sum((r.cost for r in requests), Decimal(0)) if priced or not calls else None,
            "llm_calls": calls, "not_priced": calls - priced}


@project_view(Action.VIEW_COSTS)
def group_breakdown(request: HttpRequest, project: Project, dimension: str) -> HttpResponse:
    """One group's spend split by another dimension: a fragment the group page loads after it shows."""
    name, singular, _ = _dimension(dimension)
    key, other = request.GET.get("key"), request.GET.get("by", "")
    if key is None or other not in services.BREAKDOWNS[name]:
        raise Http404(f"Which {singular.lower()}, split by what? The link needs ?key= and ?by=.")
    dates = services.date_range_of(project, request.GET)
    rows = order_rows(breakdown_of(project, name, key, other, dates.period), "-cost_usd")
    return render(request, "frontend/_breakdown.html", {
        "dates": dates, "heading": services.DIMENSIONS[other + "s"][1], "slug": other + "s",
        "rows": rows[:10], "more": len(rows) if len(rows) > 10 else 0, "totals": sum_rows(rows, "total"),
    })


@project_view(Action.VIEW_COSTS)
def request_detail(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    trace_id = trace_id.lower()
    calls = []
    for resolved in request_calls(project, trace_id):  # the rollup's own attribution and de-duplication
        resolved.call.counted = resolved.counted
        calls.append(resolved.call)
    if not calls:
        raise Http404(f"No request {trace_id} in this project.")
    counted = [c for c in calls if c.counted]  # a duplicate recording is shown but never added
    priced = [c.cost_total for c in counted if c.cost_total is not None]
    totals = {
        # None when no call is priced: the total is unknown, not $0.
        "cost_total": sum(priced, Decimal(0)) if priced else None,
        "calls": len(counted),
        "duplicates": len(calls) - len(counted),
        "unpriced_calls": len(counted) - len(priced),
        **{name: sum(getattr(c, name) for c in counted)
           for name in ("input_tokens", "cache_read_tokens", "output_tokens")},
        "cache_write_tokens": sum(c.cache_write_tokens + c.cache_write_1h_tokens for c in counted),
    }
    return render(request, "frontend/request.html", {
        "trace_id": trace_id, "calls": calls, "totals": totals,
        "summary": RequestRollup.objects.filter(project=project, trace_id=trace_id).first(),
    })
