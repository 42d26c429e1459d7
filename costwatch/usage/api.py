"""The cost API (/api/v1): thin views over costwatch.usage.queries."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from costwatch.money import decimal_json
from costwatch.projects.api import ProjectAPIView, json_object, request_project
from costwatch.projects.permissions import Action
from costwatch.projects.schema import PROJECT_PARAM, errors
from costwatch.usage.dimensions import overflow_warnings
from costwatch.usage.exports import cost_csv_response, cost_row_json
from costwatch.usage.models import RequestRollup
from costwatch.usage.queries import (
    GROUPS,
    QueryError,
    cost_page,
    cost_rows,
    custom_dimensions,
    order_rows,
    period_of,
    request_calls,
    sum_rows,
    summary_of,
)
from costwatch.usage.repricing import RepriceError, reprice_calls, since_of
from costwatch.usage.serializers import (
    CostPageSerializer,
    RepriceResultSerializer,
    RequestDetailSerializer,
    SummarySerializer,
    UserSpendSerializer,
)

MAX_PAGE_SIZE = 1000


def dimension_names(project) -> dict[str, str]:  # noqa: ANN001 - Project
    """Custom dimension ids (as text, the keys of stored values) -> names."""
    return {str(d.pk): name for name, d in custom_dimensions(project).items()}


def _int_param(request: Request, name: str, default: int, *, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ValidationError({name: f"must be a whole number from {lo} to {hi}"})
    return int(raw)


class CostsView(ProjectAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                required=True,
                description=(
                    f"One of {', '.join(GROUPS)}, or the name of one of the project's custom dimensions "
                    "(/api/v1/dimensions)"
                ),
            ),
            OpenApiParameter("start", OpenApiTypes.STR, description="YYYY-MM-DD (project time zone) or ISO datetime"),
            OpenApiParameter("end", OpenApiTypes.STR, description="inclusive date, or exclusive ISO datetime"),
            *[
                OpenApiParameter(n, OpenApiTypes.STR)
                for n in ("user", "feature", "endpoint", "model", "provider", "conversation")
            ],
            OpenApiParameter("ordering", OpenApiTypes.STR, description="e.g. -cost_usd (default), key, requests"),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="csv: every row (no paging) as a CSV download; needs export_costs",
            ),
            PROJECT_PARAM,
        ],
        responses={
            (200, "application/json"): CostPageSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The same rows as CSV, all pages"),
            **errors(400, 503),
        },
        description=(
            "Cost per group over a period, from the rollups, one page of rows at a time. Each of the "
            "project's custom dimensions (/api/v1/dimensions) is also a group_by and a filter by its "
            "name, e.g. group_by=tenant or tenant=acme: the key (other) holds the values past the "
            "dimension's daily limit (see warnings), and the empty key the calls without a value."
        ),
    )
    def get(self, request: Request) -> Response | HttpResponse:
        params = request.query_params
        project = request_project(request, Action.EXPORT_COSTS if params.get("format") == "csv" else Action.VIEW_COSTS)
        group_by = params.get("group_by", "")
        ordering = params.get("ordering", "key" if group_by in {"day", "hour"} else "-cost_usd")
        csv_export = params.get("format") == "csv"
        page = _int_param(request, "page", 1, lo=1, hi=10**6)
        size = _int_param(request, "page_size", 100, lo=1, hi=MAX_PAGE_SIZE)
        try:
            period = period_of(project, params.get("start"), params.get("end"))
            custom = custom_dimensions(project)
            filters = {
                name: params.get(name)
                for name in ("user", "feature", "endpoint", "model", "provider", "conversation", *custom)
            }
            result = cost_page(
                project,
                group_by,
                period,
                filters,
                ordering=ordering,
                limit=None if csv_export else size,
                offset=0 if csv_export else (page - 1) * size,
            )
        except QueryError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        data = [cost_row_json(r) for r in result.rows]
        warnings = overflow_warnings(
            project, period, [custom[n] for n in custom if n == group_by or filters.get(n) is not None]
        )
        if csv_export:
            response = cost_csv_response(data, f"costwatch-{project.slug}-{group_by}-{period.start:%Y%m%d}.csv")
            if warnings:
                response["X-Costwatch-Warning"] = " | ".join(warnings)
            return response
        # The rows are already in CostRowSerializer's shape (cost_row_json; test_api_contract checks the
        # two agree): rendering up to 1,000 rows through DRF fields again costs ~80 ms for nothing.
        envelope = CostPageSerializer(
            {
                "project": project.slug,
                "group_by": group_by,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "count": result.total,
                "page": page,
                "page_size": size,
                "next": page + 1 if page * size < result.total else None,
                "previous": page - 1 if page > 1 else None,
                "warnings": warnings,
                "results": [],
            }
        ).data
        return Response({**envelope, "results": data})


class SummaryView(ProjectAPIView):
    @extend_schema(
        parameters=[PROJECT_PARAM],
        responses={200: SummarySerializer, **errors(503)},
        description="Today, yesterday, month to date and the month-end forecast, in the project's time zone.",
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        s = summary_of(project)
        return Response(
            SummarySerializer(
                {
                    "project": project.slug,
                    "timezone": project.timezone,
                    "today_usd": decimal_json(s.today),
                    "yesterday_usd": decimal_json(s.yesterday),
                    "month_to_date_usd": decimal_json(s.month_to_date),
                    "previous_month_to_date_usd": decimal_json(s.previous_month_to_date),
                    "previous_month_usd": decimal_json(s.previous_month),
                    "forecast_month_end_usd": decimal_json(s.forecast_month_end),
                    "savings_month_to_date_usd": decimal_json(s.savings_month_to_date),
                    "unpriced_calls_this_month": s.unpriced_calls_this_month,
                    "unknown_usage_calls_this_month": s.unknown_usage_calls_this_month,
                    "periods": {
                        name: {
                            "cost_usd": decimal_json(row.known_cost_usd),
                            "cost_complete": row.cost_complete,
                            "llm_calls": row.llm_calls,
                            "priced_calls": row.priced_calls,
                            "unpriced_calls": row.unpriced_calls,
                            "unknown_usage_calls": row.unknown_usage_calls,
                        }
                        for name, row in s.periods.items()
                    },
                }
            ).data
        )


def request_json(r: RequestRollup, dimension_names: dict[str, str] | None = None) -> dict[str, object]:
    """A request (trace): its counted calls' cost (null when none is priced), counts and attribution.
    ``dimension_names`` maps custom dimension ids (as text) to names."""
    names = dimension_names or {}
    return {
        "trace_id": r.trace_id,
        "first_at": r.first_at.isoformat(),
        "user": r.user,
        "feature": r.feature,
        "endpoint": r.endpoint,
        "conversation": r.session,
        "dimensions": {names[k]: v for k, v in sorted((r.dimensions or {}).items()) if k in names},
        "cost_usd": decimal_json(r.cost) if r.priced_calls or not r.llm_calls else None,
        "cost_complete": r.priced_calls == r.llm_calls,
        "llm_calls": r.llm_calls,
        "priced_calls": r.priced_calls,
        "unpriced_calls": r.unpriced_calls,
        "unknown_usage_calls": r.unknown_usage_calls,
        "estimated_calls": r.estimated_calls,
        "duplicate_calls": r.duplicate_calls,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
    }


class UserView(ProjectAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.STR),
            OpenApiParameter("end", OpenApiTypes.STR),
            PROJECT_PARAM,
        ],
        responses={200: UserSpendSerializer, **errors(400, 404, 503)},
        description="A user's spend by day, feature and model, and recent requests. 404 when the user "
        "has no call in the period.",
    )
    def get(self, request: Request, user_id: str) -> Response:
        project = request_project(request)
        try:
            period = period_of(project, request.query_params.get("start"), request.query_params.get("end"))
            by_day = order_rows(cost_rows(project, "day", period, {"user": user_id}), "key")
            by_feature = order_rows(cost_rows(project, "feature", period, {"user": user_id}), "-cost_usd")
            by_model = order_rows(cost_rows(project, "model", period, {"user": user_id}), "-cost_usd")
        except QueryError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        if not by_day:
            raise NotFound(
                f"no spend recorded for user {user_id!r} in project {project.slug} between "
                f"{period.start:%Y-%m-%d} and {period.end:%Y-%m-%d}"
            )
        recent = RequestRollup.objects.filter(project=project, user=user_id).order_by("-first_at")[:50]
        total = sum_rows(by_day, user_id)
        return Response(
            UserSpendSerializer(
                {
                    "project": project.slug,
                    "user": user_id,
                    "start": period.start.isoformat(),
                    "end": period.end.isoformat(),
                    **{
                        name: cost_row_json(total)[name]
                        for name in (
                            "cost_usd",
                            "cost_complete",
                            "priced_calls",
                            "unpriced_calls",
                            "unknown_usage_calls",
                            "estimated_calls",
                        )
                    },
                    "llm_calls": total.llm_calls,
                    "by_day": [cost_row_json(r) for r in by_day],
                    "by_feature": [cost_row_json(r) for r in by_feature],
                    "by_model": [cost_row_json(r) for r in by_model],
                    "recent_requests": [request_json(r, dimension_names(project)) for r in recent],
                }
            ).data
        )


class RequestView(ProjectAPIView):
    @extend_schema(
        parameters=[PROJECT_PARAM],
        responses={200: RequestDetailSerializer, **errors(404)},
        description="A request (trace): each LLM call with its tokens, cost and the price row used.",
    )
    def get(self, request: Request, trace_id: str) -> Response:
        project = request_project(request)
        trace_id = trace_id.lower()
        calls = request_calls(project, trace_id)
        if not calls:
            raise NotFound(f"no request {trace_id} in project {project.slug}")
        rollup = RequestRollup.objects.filter(project=project, trace_id=trace_id).first()
        return Response(
            RequestDetailSerializer(
                {
                    "project": project.slug,
                    "trace_id": trace_id,
                    "summary": request_json(rollup, dimension_names(project)) if rollup else None,
                    "calls": [
                        {
                            "span_id": c.span_id,
                            "parent_span_id": c.parent_span_id or None,
                            "started_at": c.started_at.isoformat(),
                            "provider": c.provider,
                            "model": c.model,
                            "price_key": c.price_key,
                            "operation": c.operation,
                            "counted": rc.counted,
                            "duplicate": not rc.counted,
                            "user": rc.user,
                            "feature": rc.feature,
                            "endpoint": rc.endpoint,
                            "conversation": rc.session,
                            "dimensions": rc.dimensions,
                            "input_tokens": c.input_tokens,
                            "cache_read_tokens": c.cache_read_tokens,
                            "cache_write_tokens": c.cache_write_tokens + c.cache_write_1h_tokens,
                            "output_tokens": c.output_tokens,
                            "reasoning_tokens": c.reasoning_tokens,
                            "usage_state": c.usage_state,
                            "estimated": c.estimated,
                            "count_basis": c.count_basis,
                            "service_tier": c.service_tier or None,
                            "cache_write_1h_tokens": c.cache_write_1h_tokens,
                            "modality_tokens": c.modality_tokens or {},
                            "cost_approximate": c.cost_approximate,
                            "cost_note": c.cost_note or None,
                            "response_cache_hit": c.response_cache_hit,
                            "is_error": c.is_error,
                            "cost_usd": decimal_json(c.cost_total),
                            "cost_source": c.cost_source
                            or ("usage unknown" if c.usage_state == "unknown" else "unpriced"),
                            "reported_cost_usd": decimal_json(c.reported_cost),
                            "response_id": c.response_id,
                            "price": None
                            if c.price is None
                            else {
                                "id": c.price.pk,
                                "provider": c.price.provider,
                                "model": c.price.model,
                                "input_per_mtok": decimal_json(c.price.input),
                                "output_per_mtok": decimal_json(c.price.output),
                                "cache_read_per_mtok": decimal_json(c.price.cache_read),
                                "cache_write_per_mtok": decimal_json(c.price.cache_write),
                                "effective_from": c.price.effective_from.isoformat(),
                                "source_url": c.price.source_url,
                                "override": c.price.project_id is not None,
                            },
                        }
                        for rc in calls
                        for c in [rc.call]
                    ],
                }
            ).data
        )


class RepriceRequest(serializers.Serializer):
    since = serializers.CharField(required=False, help_text="YYYY-MM-DD (project time zone) or ISO datetime")
    model = serializers.CharField(required=False, help_text="only calls that reported, asked for or were priced as it")


class RepriceView(ProjectAPIView):
    @extend_schema(
        summary="Re-price stored calls",
        description=(
            "Prices the project's stored calls again with the current catalog, overrides and aliases, "
            "and marks the changed rollup hours dirty. Needs a logged-in person who may manage prices "
            "(API keys are read-only)."
        ),
        parameters=[PROJECT_PARAM],
        request=RepriceRequest,
        responses={200: RepriceResultSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_PRICES)
        data = json_object(request, ("since", "model"))
        for name in ("since", "model"):
            if data.get(name) is not None and (not isinstance(data[name], str) or not data[name].strip()):
                raise ValidationError({"detail": f"{name} must be a non-empty string"})
        try:
            since = since_of(project, data["since"]) if data.get("since") else None
            result = reprice_calls(
                project,
                since=since,
                model=(data.get("model") or "").strip() or None,
                by=request.user.get_username() if request.user.is_authenticated else "api",
            )
        except RepriceError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(
            RepriceResultSerializer(
                {
                    "project": project.slug,
                    "checked": result.checked,
                    "changed": result.changed,
                    "priced": result.priced,
                    "reported": result.reported,
                    "unpriced": result.unpriced,
                    "hours_marked": result.hours,
                    "total_before_usd": decimal_json(result.total_before),
                    "total_after_usd": decimal_json(result.total_after),
                    "unpriced_before": result.unpriced_before,
                }
            ).data
        )
