"""The custom dimensions API (/api/v1/dimensions) and the A/B comparison (/api/v1/compare)."""

from __future__ import annotations

from typing import Any, TypedDict, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from costwatch.money import decimal_json
from costwatch.projects.api import ProjectAPIView, json_object, request_project
from costwatch.projects.permissions import Action
from costwatch.projects.schema import PROJECT_PARAM, errors
from costwatch.usage.dimensions import (
    DimensionError,
    delete_dimension,
    dimension_named,
    dimension_status,
    dimensions_of,
    overflow_warnings,
    save_dimension,
)
from costwatch.usage.exports import cost_row_json
from costwatch.usage.models import CustomDimension
from costwatch.usage.queries import Comparison, QueryError, compare, period_of
from costwatch.usage.serializers import CostRowSerializer

FIELDS = ("name", "attribute_keys", "max_values_per_day")


class DimensionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="a-z, 0-9 and _, starting with a letter; group_by=<name> in the cost API")
    attribute_keys = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "Span or resource attribute keys read in this order, the span's attributes before the resource's; "
            "the first with a value wins"
        ),
    )
    max_values_per_day = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        help_text=(
            "Distinct values kept per local day; later ones are grouped under (other). Default: "
            "COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY"
        ),
    )
    group_by = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    backfill_requested_at = serializers.DateTimeField(read_only=True, allow_null=True)
    backfilled_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=(
            "When the stored spans last got this dimension's values; the hours are recomputed after it. "
            "Older than backfill_requested_at (or null): the backfill is still waiting for the worker."
        ),
    )
    backfill_pending = serializers.BooleanField(read_only=True)
    overflow_days_last_30 = serializers.ListField(
        child=serializers.DateField(),
        read_only=True,
        help_text=("Local days of the last 30 on which more values were seen than kept"),
    )


class DimensionListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = DimensionSerializer(many=True)


class _DimensionBody(TypedDict, total=False):
    name: str
    attribute_keys: list[str]
    max_values_per_day: int | None


def _body(request: Request, *, partial: bool) -> _DimensionBody:
    data = json_object(request, FIELDS)
    if not partial:
        missing = [name for name in ("name", "attribute_keys") if name not in data]
        if missing:
            raise ValidationError(dict.fromkeys(missing, "this field is required"))
    if "name" in data and not isinstance(data["name"], str):
        raise ValidationError({"name": "must be a string"})
    if "attribute_keys" in data and (
        not isinstance(data["attribute_keys"], list) or not all(isinstance(k, str) for k in data["attribute_keys"])
    ):
        raise ValidationError({"attribute_keys": "must be a list of strings"})
    if data.get("max_values_per_day") is not None and (
        isinstance(data["max_values_per_day"], bool) or not isinstance(data["max_values_per_day"], int)
    ):
        raise ValidationError({"max_values_per_day": "must be a whole number"})
    return cast(_DimensionBody, data)  # the shapes checked above


class DimensionsView(ProjectAPIView):
    @extend_schema(
        operation_id="v1_dimensions_list",
        summary="The project's custom dimensions",
        parameters=[PROJECT_PARAM],
        responses={200: DimensionListSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        return Response(
            {
                "project": project.slug,
                "results": DimensionSerializer([dimension_status(d) for d in dimensions_of(project)], many=True).data,
            }
        )

    @extend_schema(
        summary="Add a custom dimension (backfilled from the kept span attributes)",
        parameters=[PROJECT_PARAM],
        request=DimensionSerializer,
        responses={201: DimensionSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_DIMENSIONS)
        data = _body(request, partial=False)
        try:
            dimension = save_dimension(
                project,
                name=data["name"],
                attribute_keys=data["attribute_keys"],
                max_values_per_day=data.get("max_values_per_day"),
            )
        except DimensionError as exc:
            raise ValidationError(exc.errors) from None
        return Response(DimensionSerializer(dimension_status(dimension)).data, status=status.HTTP_201_CREATED)


class DimensionView(ProjectAPIView):
    def _dimension(self, request: Request, name: str, action: Action = Action.VIEW_COSTS) -> CustomDimension:
        project = request_project(request, action)
        dimension = dimension_named(project, name)
        if dimension is None:
            raise NotFound(f"project {project.slug} has no dimension named {name!r}")
        return dimension

    @extend_schema(
        summary="One custom dimension", parameters=[PROJECT_PARAM], responses={200: DimensionSerializer, **errors(404)}
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(DimensionSerializer(dimension_status(self._dimension(request, name))).data)

    @extend_schema(
        summary="Change a custom dimension (new keys are backfilled)",
        parameters=[PROJECT_PARAM],
        request=DimensionSerializer,
        responses={200: DimensionSerializer, **errors(400, 404)},
    )
    def patch(self, request: Request, name: str) -> Response:
        dimension = self._dimension(request, name, Action.MANAGE_DIMENSIONS)
        data = _body(request, partial=True)
        try:
            dimension = save_dimension(
                dimension.project,
                instance=dimension,
                name=data.get("name", dimension.name),
                attribute_keys=data.get("attribute_keys", dimension.attribute_keys),
                max_values_per_day=data.get("max_values_per_day"),
            )
        except DimensionError as exc:
            raise ValidationError(exc.errors) from None
        return Response(DimensionSerializer(dimension_status(dimension)).data)

    @extend_schema(
        summary="Delete a custom dimension and its rollups (refused while alert rules use it)",
        parameters=[PROJECT_PARAM],
        responses={204: None, **errors(400, 404)},
    )
    def delete(self, request: Request, name: str) -> Response:
        dimension = self._dimension(request, name, Action.MANAGE_DIMENSIONS)
        try:
            delete_dimension(dimension)
        except DimensionError as exc:
            raise ValidationError(exc.errors) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ComparisonSideSerializer(serializers.Serializer):
    value = serializers.CharField()
    cost_per_request_usd = serializers.CharField(
        allow_null=True,
        help_text=("null when the side has no request or a call whose cost is unknown (see totals.cost_complete)"),
    )
    tokens_per_request = serializers.FloatField(allow_null=True, help_text="prompt (input + cache) and output tokens")
    input_tokens_per_request = serializers.FloatField(allow_null=True, help_text="prompt tokens, cache included")
    output_tokens_per_request = serializers.FloatField(allow_null=True)
    calls_per_request = serializers.FloatField(allow_null=True)
    prompt_cache_hit_rate = serializers.FloatField(allow_null=True)
    response_cache_hit_rate = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(allow_null=True, help_text="failed calls / calls")
    totals = CostRowSerializer()


class ComparisonSerializer(serializers.Serializer):
    project = serializers.CharField()
    dimension = serializers.CharField()
    feature = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    a = ComparisonSideSerializer()
    b = ComparisonSideSerializer()
    warnings = serializers.ListField(child=serializers.CharField())


def side_json(row, per_request: dict[str, Any]) -> dict[str, object]:  # noqa: ANN001 - CostRow
    cost = per_request["cost_per_request_usd"]
    return {
        "value": row.key,
        **per_request,
        "cost_per_request_usd": decimal_json(cost) if cost is not None else None,
        "totals": cost_row_json(row),
    }


class CompareView(ProjectAPIView):
    @extend_schema(
        summary="Two values of a custom dimension side by side (the A/B question)",
        description=(
            "Per request: cost, tokens, calls, cache hit rates and error rate of dimension=a and "
            "dimension=b over the period, within one feature when feature= is given."
        ),
        parameters=[
            OpenApiParameter("dimension", OpenApiTypes.STR, required=True),
            OpenApiParameter("a", OpenApiTypes.STR, required=True),
            OpenApiParameter("b", OpenApiTypes.STR, required=True),
            OpenApiParameter("feature", OpenApiTypes.STR),
            OpenApiParameter("start", OpenApiTypes.STR),
            OpenApiParameter("end", OpenApiTypes.STR),
            PROJECT_PARAM,
        ],
        responses={200: ComparisonSerializer, **errors(400, 503)},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        params = request.query_params
        missing = [name for name in ("dimension", "a", "b") if params.get(name) is None]
        if missing:
            raise ValidationError(dict.fromkeys(missing, "this parameter is required"))
        try:
            period = period_of(project, params.get("start"), params.get("end"))
            result = compare(
                project, params["dimension"], params["a"], params["b"], period, feature=params.get("feature")
            )
        except QueryError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        dimension = dimension_named(project, result.dimension)  # None if deleted meanwhile: no warnings
        return Response(
            ComparisonSerializer(
                {
                    "project": project.slug,
                    "dimension": result.dimension,
                    "feature": result.feature,
                    "start": period.start,
                    "end": period.end,
                    "a": side_json(result.a, Comparison.per_request(result.a)),
                    "b": side_json(result.b, Comparison.per_request(result.b)),
                    "warnings": overflow_warnings(project, period, [dimension] if dimension is not None else []),
                }
            ).data
        )
