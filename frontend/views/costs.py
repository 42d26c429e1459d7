"""Cost pages: overview, the group tables and pages (users, features, endpoints, models and the
project's custom dimensions, one code path through ``services.GroupKind``), the A/B comparison, a request."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from costwatch.display import visible_controls
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action
from costwatch.usage.dimensions import OTHER, dimensions_of, overflow_warnings
from costwatch.usage.exports import cost_csv_response, cost_row_json
from costwatch.usage.models import RequestRollup
from costwatch.usage.pages import (
    breakdown_of,
    daily_cost_by,
    daily_rows_of,
    has_calls,
    recent_requests,
    recent_requests_with_value,
)
from costwatch.usage.queries import (
    CostRow,
    Period,
    QueryError,
    compare,
    cost_page,
    cost_rows,
    order_rows,
    request_calls,
    sum_rows,
    summary_of,
    total_of,
)
from frontend import services
from frontend.access import project_view, require
from frontend.budget_lines import budget_status_of


@project_view(Action.VIEW_COSTS)
def overview(request: HttpRequest, project: Project) -> HttpResponse:
    if not has_calls(project):
        return render(
            request, "frontend/empty.html", {"ingest_url": settings.COSTWATCH_PUBLIC_URL.rstrip("/") + "/v1/traces"}
        )
    dates = services.date_range_of(project, request.GET)
    summary = summary_of(project)
    tops = [
        (services.DIMENSIONS[slug], slug, cost_page(project, services.DIMENSIONS[slug][0], dates.period, limit=5).rows)
        for slug in ("users", "features", "endpoints", "models")
    ]
    return render(
        request,
        "frontend/overview.html",
        {
            "dates": dates,
            "summary": summary,
            "today_change": services.change(summary.today, summary.yesterday),
            "mtd_change": services.change(summary.month_to_date, summary.previous_month_to_date),
            "forecast_change": services.change(summary.forecast_month_end, summary.previous_month),
            "total": total_of(project, dates.period),
            "chart": services.stacked_chart(daily_cost_by(project, "model", dates.period), dates.start, dates.end),
            "tops": tops,
            "unpriced": [
                row
                for row in order_rows(cost_rows(project, "model", dates.period), "key")
                if row.unpriced_calls or row.unknown_usage_calls
            ],
        },
    )


@project_view(Action.VIEW_COSTS)
def group_list(request: HttpRequest, project: Project, dimension: str) -> HttpResponse:
    return _group_list(request, project, services.builtin_group(project, dimension))


@project_view(Action.VIEW_COSTS)
def dimension_list(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    """A custom dimension's table: spend per value, (not set) and (other) included."""
    return _group_list(request, project, services.custom_group_named(project, name))


@project_view(Action.VIEW_COSTS)
def dimensions_index(request: HttpRequest, project: Project) -> HttpResponse:
    """p/<slug>/dimensions/: the first custom dimension's table, or the list of dimensions when there is none."""
    first = dimensions_of(project)[:1]
    if first:
        return redirect("frontend:dimension", slug=project.slug, name=first[0].name)
    return redirect("frontend:dimensions", slug=project.slug)


def _warnings(project: Project, group: services.GroupKind, period: Period) -> list[str]:
    """Why rows of a custom dimension read (other) in the period; nothing for a built-in group."""
    return overflow_warnings(project, period, [group.custom]) if group.custom else []


def _group_list(request: HttpRequest, project: Project, group: services.GroupKind) -> HttpResponse:
    dates = services.date_range_of(project, request.GET)
    asked = services.table_query_of(request.GET)
    export = request.GET.get("format") == "csv"
    if export:
        require(request, Action.EXPORT_COSTS)
    if asked.search:
        rows = services.searched(cost_rows(project, group.group_by, dates.period), asked)
        total = len(rows)
        totals: CostRow | None = sum_rows(rows, "total")
    else:
        # Sorted and cut to one page in SQL: a month of a big project has tens of thousands of users.
        page = cost_page(
            project,
            group.group_by,
            dates.period,
            ordering=asked.sort,
            limit=None if export else services.PAGE_SIZE,
            offset=0 if export else asked.offset,
        )
        rows, total = page.rows, page.total
        totals = None if export else total_of(project, dates.period)
    warnings = _warnings(project, group, dates.period)
    if export:
        response = cost_csv_response(
            [cost_row_json(row) for row in rows],
            f"costwatch-{project.slug}-{group.slug}-{dates.start:%Y%m%d}-{dates.end:%Y%m%d}.csv",
        )
        if warnings:
            response["X-Costwatch-Warning"] = " | ".join(warnings)
        return response
    context = {
        "dates": dates,
        "group": group,
        "dimension": group.slug,
        "singular": group.singular,
        "plural": group.plural,
        "table": services.table_of(rows, total, asked),
        "totals": totals,
        "warnings": warnings,
        "other_key": OTHER,
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "group-table":
        return render(request, "frontend/_group_table.html", context)
    return render(request, "frontend/group_list.html", context)


@project_view(Action.VIEW_COSTS)
def group_detail(request: HttpRequest, project: Project, dimension: str) -> HttpResponse:
    return _group_detail(request, project, services.builtin_group(project, dimension))


@project_view(Action.VIEW_COSTS)
def dimension_detail(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    """One value of a custom dimension: its spend per day, splits and recent requests."""
    return _group_detail(request, project, services.custom_group_named(project, name))


def _group_detail(request: HttpRequest, project: Project, group: services.GroupKind) -> HttpResponse:
    if "key" not in request.GET:
        raise Http404(f"Which {group.singular.lower()}? The link needs ?key=.")
    key = request.GET["key"]
    dates = services.date_range_of(project, request.GET)
    days = daily_rows_of(project, group.rollup_dimension, key, dates.period)
    context = {
        "dates": dates,
        "group": group,
        "dimension": group.slug,
        "singular": group.singular,
        "plural": group.plural,
        "key": key,
        "warnings": _warnings(project, group, dates.period),
        "other_key": OTHER,
    }
    if not any(day.llm_calls for day in days):
        return render(request, "frontend/no_spend.html", context, status=404)
    if group.custom:
        recent = recent_requests_with_value(project, group.custom, key, dates.period)
    else:
        recent = recent_requests(project, group.group_by, key, dates.period)
    breakdowns = [
        (
            services.group_of(project, other).singular,
            other,
            f"{group.breakdown_url}?{urlencode({'key': key, 'by': other, 'start': dates.start, 'end': dates.end})}",
        )
        for other in group.breakdowns
    ]
    return render(
        request,
        "frontend/group_detail.html",
        {
            **context,
            "total": sum_rows(days, key),
            "chart": services.daily_chart(days, dates.start, dates.end),
            "breakdowns": breakdowns,
            "recent": recent,
            "recent_total": _requests_total(recent),
            "budgets": _budgets(project, group, key),
        },
    )


def _budgets(project: Project, group: services.GroupKind, key: str) -> list | None:
    """The budget lines of one group; for a custom dimension only when a rule is scoped by it
    (None hides the card and its "create one" link, which would lead to a form without that scope)."""
    lines = budget_status_of(project, group.rollup_dimension, key)
    return lines if lines or not group.custom else None


def _requests_total(requests: list) -> dict[str, object]:
    """The total of a list of requests: the priced calls' cost (None when none is priced: unknown,
    not $0), the counted calls and how many of them have no known cost."""
    priced = sum(r.priced_calls for r in requests)
    calls = sum(r.llm_calls for r in requests)
    return {
        "cost": sum((r.cost for r in requests), Decimal(0)) if priced or not calls else None,
        "llm_calls": calls,
        "not_priced": calls - priced,
    }


@project_view(Action.VIEW_COSTS)
def group_breakdown(request: HttpRequest, project: Project, dimension: str) -> HttpResponse:
    return _group_breakdown(request, project, services.builtin_group(project, dimension))


@project_view(Action.VIEW_COSTS)
def dimension_breakdown(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    return _group_breakdown(request, project, services.custom_group_named(project, name))


def _group_breakdown(request: HttpRequest, project: Project, group: services.GroupKind) -> HttpResponse:
    """One group's spend split by another dimension: a fragment the group page loads after it shows."""
    key, other = request.GET.get("key"), request.GET.get("by", "")
    if key is None or other not in group.breakdowns:
        raise Http404(f"Which {group.singular.lower()}, split by what? The link needs ?key= and ?by=.")
    dates = services.date_range_of(project, request.GET)
    if group.custom:
        # A filter by a custom dimension reads the raw calls, keyed exactly as its table is.
        rows = cost_rows(project, other, dates.period, {group.group_by: key})
    else:
        rows = breakdown_of(project, group.group_by, key, other, dates.period)
    rows = order_rows(rows, "-cost_usd")
    split = services.group_of(project, other)
    return render(
        request,
        "frontend/_breakdown.html",
        {
            "dates": dates,
            "heading": split.singular,
            "slug": split.slug,
            "split": split,
            "rows": rows[:10],
            "more": len(rows) if len(rows) > 10 else 0,
            "totals": sum_rows(rows, "total"),
            "other_key": OTHER,
        },
    )


@project_view(Action.VIEW_COSTS)
def compare_values(request: HttpRequest, project: Project) -> HttpResponse:
    """The A/B question: two values of a custom dimension side by side, per request, optionally
    within one feature (?dimension=&a=&b=&feature=&start=&end=; ``a=`` empty is "(not set)").

    Without a and b, the two values with the most spend are compared; after the dimension picker
    changes (``was`` names the one the form showed), the old values are dropped for those."""
    dimensions = dimensions_of(project)
    dates = services.date_range_of(project, request.GET)
    context: dict[str, object] = {
        "dates": dates,
        "dimensions": dimensions,
        "other_key": OTHER,
        "choice_limit": COMPARE_CHOICES,
    }
    if not dimensions:
        return render(request, "frontend/compare.html", context)
    asked = request.GET.get("dimension") or dimensions[0].name
    dimension = next((d for d in dimensions if d.name == asked), None)
    errors = []
    if dimension is None:
        errors.append(f"This project has no dimension named “{asked}”; showing {dimensions[0].name}.")
        dimension = dimensions[0]
    group = services.custom_group(project, dimension, dimensions)
    values = cost_page(project, dimension.name, dates.period, limit=COMPARE_CHOICES).rows
    features = cost_page(project, "feature", dates.period, limit=COMPARE_CHOICES).rows
    a, b = request.GET.get("a"), request.GET.get("b")
    switched = request.GET.get("was", dimension.name) != dimension.name or dimension.name != asked
    if switched:  # the picks were values of another dimension
        a = b = None
    feature = request.GET.get("feature") or None
    if a is None and b is None:
        a, b = services.default_pair(values) or (None, None)
    offered_features = [row.key for row in features if row.key]
    if feature is not None and feature not in offered_features:
        offered_features.append(feature)
    offered = [row.key for row in values]
    offered += [value for value in (a, b) if value is not None and value not in offered]
    context.update(
        {
            "dimension": dimension,
            "group": group,
            "a": a,
            "b": b,
            "feature": feature or "",
            "choices": [{"key": key, "label": visible_controls(key) if key else services.NOT_SET} for key in offered],
            "features": [{"key": key, "label": visible_controls(key)} for key in offered_features],
            "keep_query": urlencode(
                {
                    "dimension": dimension.name,
                    **({"a": a} if a is not None else {}),
                    **({"b": b} if b is not None else {}),
                    "feature": feature or "",
                }
            ),
            "warnings": overflow_warnings(project, dates.period, [dimension]),
        }
    )
    if a is None or b is None:
        if not switched and (request.GET.get("a") is not None or request.GET.get("b") is not None):
            errors.append("Choose two values to compare.")
        context["errors"] = errors
        return render(request, "frontend/compare.html", context, status=400 if errors else 200)
    if a == b:
        context["errors"] = [*errors, "A and B are the same value: pick two different ones."]
        return render(request, "frontend/compare.html", context, status=400)
    try:
        result = compare(project, dimension.name, a, b, dates.period, feature=feature)
    except QueryError as exc:
        context["errors"] = [*errors, f"{str(exc)[:1].upper()}{str(exc)[1:]}."]
        return render(request, "frontend/compare.html", context, status=400)
    per_request, totals = services.comparison_lines(result)
    context.update(
        {
            "errors": errors,
            "result": result,
            "per_request": per_request,
            "totals": totals,
            "chart": services.per_request_chart(
                _side_days(project, group, a, feature, dates),
                _side_days(project, group, b, feature, dates),
                dates.start,
                dates.end,
                (f"A: {visible_controls(a) or services.NOT_SET}", f"B: {visible_controls(b) or services.NOT_SET}"),
            ),
        }
    )
    return render(request, "frontend/compare.html", context, status=400 if errors else 200)


COMPARE_CHOICES = 200  # values (and features) offered in the pickers, largest spend first


def _side_days(
    project: Project, group: services.GroupKind, value: str, feature: str | None, dates: services.DateRange
) -> list:
    """One side's rows per local day: from the rollups, or the raw calls within a feature."""
    if feature is None:
        return daily_rows_of(project, group.rollup_dimension, value, dates.period)
    return cost_rows(project, "day", dates.period, {group.group_by: value, "feature": feature})


@project_view(Action.VIEW_COSTS)
def request_detail(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    trace_id = trace_id.lower()
    calls = request_calls(project, trace_id)  # the rollup's own attribution and de-duplication
    if not calls:
        raise Http404(f"No request {trace_id} in this project.")
    counted = [c.call for c in calls if c.counted]  # a duplicate recording is shown but never added
    priced = [c.cost_total for c in counted if c.cost_total is not None]
    totals = {
        # None when no call is priced: the total is unknown, not $0.
        "cost_total": sum(priced, Decimal(0)) if priced else None,
        "calls": len(counted),
        "duplicates": len(calls) - len(counted),
        "unpriced_calls": len(counted) - len(priced),
        **{
            name: sum(getattr(c, name) for c in counted)
            for name in ("input_tokens", "cache_read_tokens", "output_tokens")
        },
        "cache_write_tokens": sum(c.cache_write_tokens + c.cache_write_1h_tokens for c in counted),
    }
    return render(
        request,
        "frontend/request.html",
        {
            "trace_id": trace_id,
            "calls": calls,
            "totals": totals,
            "summary": RequestRollup.objects.filter(project=project, trace_id=trace_id).first(),
        },
    )
