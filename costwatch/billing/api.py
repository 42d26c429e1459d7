"""The reconciliation and billing API (/api/v1/reconciliation, /api/v1/billing/...): thin views over
costwatch.billing.services. Reading needs view_costs (a read key is enough); billing sources need
manage_keys (admin); CSV imports need import_bills (admin, finance)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from costwatch.billing import services
from costwatch.billing.models import BillingSource
from costwatch.billing.services import BillingError, ImportResult, ReconciliationRow
from costwatch.billing.sources import SOURCES, SourceError
from costwatch.billing.tasks import queue_due_pulls
from costwatch.money import decimal_json
from costwatch.projects.api import ProjectAPIView, request_project
from costwatch.projects.permissions import Action
from costwatch.projects.schema import ErrorSerializer, errors

DEFAULT_DAYS = 30
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PROVIDER_CHOICES = [(p, p) for p in sorted(SOURCES)]
ERRORS = errors()


class EstimateSerializer(serializers.Serializer):
    estimated_usd = serializers.CharField(
        allow_null=True,
        help_text="Costwatch's priced calls (exact decimal); null when there were calls and none is priced",
    )
    estimate_complete = serializers.BooleanField(help_text="false when some calls are unpriced or have unknown usage")
    llm_calls = serializers.IntegerField()
    unpriced_calls = serializers.IntegerField()
    unknown_usage_calls = serializers.IntegerField(help_text="calls whose token usage is unknown (cost not included)")


class ModelLineSerializer(EstimateSerializer):
    model = serializers.CharField(help_text="as the bill / the spans name it; '' = bill lines naming no model")
    billed = serializers.CharField(allow_null=True, help_text="null = this model is not named on the bill")
    currency = serializers.CharField(allow_null=True)
    difference_usd = serializers.CharField(allow_null=True)
    line_items = serializers.ListField(child=serializers.CharField())


class ReconciliationRowSerializer(EstimateSerializer):
    day = serializers.DateField(help_text="UTC day (the providers' billing day)")
    provider = serializers.CharField()
    billed = serializers.CharField(allow_null=True, help_text="the bill, exact decimal in `currency`; null = no bill")
    currency = serializers.CharField(allow_null=True, help_text="ISO 4217 as given; 'mixed' when lines disagree")
    difference_usd = serializers.CharField(allow_null=True, help_text="billed - estimated; null when not comparable")
    drift_percent = serializers.CharField(allow_null=True, help_text="difference / billed x 100, 2 places")
    status = serializers.ChoiceField(choices=["ok", "no_bill", "mixed_currencies", "not_usd", "estimate_unknown"])
    complete_day = serializers.BooleanField(help_text="false for today: the UTC day is not over")
    bill_origin = serializers.CharField(allow_null=True, help_text="api | csv")
    bill_imported_at = serializers.DateTimeField(allow_null=True)
    models = ModelLineSerializer(many=True, required=False, help_text="with by_model=true")


class ReconciliationSerializer(serializers.Serializer):
    project = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    days_are = serializers.CharField()
    results = ReconciliationRowSerializer(many=True)


def _estimate_json(estimate: Any) -> dict[str, Any]:  # noqa: ANN401
    if estimate is None:
        return {
            "estimated_usd": None,
            "estimate_complete": False,
            "llm_calls": 0,
            "unpriced_calls": 0,
            "unknown_usage_calls": None,
        }
    return {
        "estimated_usd": decimal_json(estimate.cost_usd),
        "estimate_complete": estimate.complete,
        "llm_calls": estimate.llm_calls,
        "unpriced_calls": estimate.unpriced_calls,
        "unknown_usage_calls": estimate.unknown_usage_calls,
    }


def row_json(row: ReconciliationRow) -> dict[str, Any]:
    data: dict[str, Any] = {
        "day": row.day.isoformat(),
        "provider": row.provider,
        "billed": decimal_json(row.billed),
        "currency": row.currency,
        **_estimate_json(row.estimate),
        "difference_usd": decimal_json(row.difference),
        "drift_percent": decimal_json(row.drift_percent),
        "status": row.status,
        "complete_day": row.complete_day,
        "bill_origin": row.origin,
        "bill_imported_at": row.imported_at.isoformat() if row.imported_at else None,
    }
    if row.models is not None:
        data["models"] = [
            {
                "model": m.model,
                "billed": decimal_json(m.billed),
                "currency": m.currency,
                **_estimate_json(m.estimate),
                "difference_usd": decimal_json(m.difference),
                "line_items": m.line_items,
            }
            for m in row.models
        ]
    return data


def _day(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: f"{raw!r} is not a date (YYYY-MM-DD, UTC)"}) from None


class ReconciliationView(ProjectAPIView):
    @extend_schema(
        operation_id="reconciliation",
        parameters=[
            OpenApiParameter(
                "start", OpenApiTypes.DATE, description=f"first UTC day (default {DEFAULT_DAYS} days ago)"
            ),
            OpenApiParameter("end", OpenApiTypes.DATE, description="last UTC day, inclusive (default today)"),
            OpenApiParameter("provider", OpenApiTypes.STR, enum=sorted(SOURCES)),
            OpenApiParameter("by_model", OpenApiTypes.BOOL, description="per-model lines (at most 62 days)"),
            OpenApiParameter("project", OpenApiTypes.STR),
        ],
        responses={200: ReconciliationSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        today = timezone.now().date()
        end = _day(request, "end", today)
        start = _day(request, "start", end - timedelta(days=DEFAULT_DAYS - 1))
        provider = request.query_params.get("provider")
        if provider and provider not in SOURCES:
            raise ValidationError({"provider": f"one of {', '.join(sorted(SOURCES))}"})
        by_model = request.query_params.get("by_model", "").lower() in {"1", "true", "yes"}
        try:
            rows = services.reconcile(
                project, start, end, providers=[provider] if provider else None, by_model=by_model
            )
        except BillingError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(
            {
                "project": project.slug,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "days_are": "UTC",
                "results": [row_json(r) for r in rows],
            }
        )


class SourceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    provider = serializers.ChoiceField(choices=PROVIDER_CHOICES)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    admin_key = serializers.CharField(
        write_only=True,
        trim_whitespace=True,
        help_text="OpenAI admin key / Anthropic Admin API key; stored encrypted, never returned",
    )
    key_hint = serializers.CharField(read_only=True, help_text="last 4 characters of the key")
    scope_ids = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=100,
        help_text="OpenAI project ids / Anthropic workspace ids; empty = organization",
    )
    base_url = serializers.URLField(required=False, allow_blank=True, help_text="empty = the provider's default")
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    next_pull_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_pull_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_pull_ok = serializers.BooleanField(read_only=True, allow_null=True)
    last_error = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


def _source(request: Request, pk: int) -> tuple[Any, BillingSource]:
    project = request_project(request, Action.MANAGE_KEYS)
    source = BillingSource.objects.filter(project=project, pk=pk).first()
    if source is None:
        raise NotFound(f"no billing source {pk} in project {project.slug}")
    return project, source


class SourceListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = SourceSerializer(many=True)


class SourceListView(ProjectAPIView):
    @extend_schema(operation_id="billing_sources_list", responses={200: SourceListSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_KEYS)
        return Response(
            {"project": project.slug, "results": SourceSerializer(services.sources_of(project), many=True).data}
        )

    @extend_schema(request=SourceSerializer, responses={201: SourceSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_KEYS)
        serializer = SourceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            source = services.add_source(
                project,
                data["provider"],
                data["admin_key"],
                name=data.get("name", ""),
                scope_ids=data.get("scope_ids", ()),
                base_url=data.get("base_url", ""),
            )
        except BillingError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(SourceSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailView(ProjectAPIView):
    @extend_schema(
        responses={204: None, **errors(404)},
        description="Revoke: the stored key is erased and pulls stop; pulled bills stay.",
    )
    def delete(self, request: Request, pk: int) -> Response:
        _, source = _source(request, pk)
        services.revoke_source(source)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourcePullView(ProjectAPIView):
    @extend_schema(
        request=None,
        responses={202: SourceSerializer, **errors(404, 409)},
        description="Pull now: the worker pulls the last COSTWATCH_BILLING_PULL_DAYS days within "
        "COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS; see last_pull_* for the outcome.",
    )
    def post(self, request: Request, pk: int) -> Response:
        _, source = _source(request, pk)
        if not services.request_pull(source):
            return Response({"detail": "this source is revoked; add the key again"}, status=status.HTTP_409_CONFLICT)
        queue_due_pulls()
        source.refresh_from_db()
        return Response(SourceSerializer(source).data, status=status.HTTP_202_ACCEPTED)


class ImportResultSerializer(serializers.Serializer):
    provider = serializers.CharField()
    days = serializers.ListField(child=serializers.DateField(), help_text="UTC days replaced")
    lines = serializers.IntegerField()
    total_by_currency = serializers.DictField(child=serializers.CharField())


class ImportSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=PROVIDER_CHOICES)
    file = serializers.FileField(help_text="the provider's cost CSV (README: columns read)")


def import_json(result: ImportResult) -> dict[str, Any]:
    return {
        "provider": result.provider,
        "days": [d.isoformat() for d in result.days],
        "lines": result.lines,
        "total_by_currency": {c: decimal_json(v) for c, v in sorted(result.total_by_currency.items())},
    }


class ImportView(ProjectAPIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": ImportSerializer},
        responses={
            201: ImportResultSerializer,
            413: OpenApiResponse(response=ErrorSerializer, description="file over 20 MB"),
            **ERRORS,
        },
        description="Import a provider's cost CSV; the UTC days it covers are replaced. A file with "
        "a bad row is refused whole (400 naming the row) and changes nothing.",
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.IMPORT_BILLS)
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            return Response({"detail": "the file is over 20 MB"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError({"file": "the file is not UTF-8 text (CSV)"}) from None
        try:
            result = services.import_csv(
                project, serializer.validated_data["provider"], text, filename=upload.name or ""
            )
        except SourceError as exc:
            raise ValidationError({"file": str(exc)}) from None
        return Response(import_json(result), status=status.HTTP_201_CREATED)
