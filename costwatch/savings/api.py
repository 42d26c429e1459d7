"""The savings API (/api/v1/savings): thin views over costwatch.savings.services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from costwatch.money import decimal_text
from costwatch.projects.api import ProjectAPIView, json_object, request_project
from costwatch.projects.permissions import Action
from costwatch.projects.schema import errors
from costwatch.savings.models import ApprovedAlternative
from costwatch.savings.opportunities import KINDS, Opportunity, Thresholds
from costwatch.savings.services import (
    PERIODS,
    SCOPES,
    SavingsError,
    SavingsReport,
    approve_alternative,
    remove_alternative,
    save_thresholds,
    savings_report_for_query,
    thresholds_of,
)

PROJECT_PARAM = OpenApiParameter("project", OpenApiTypes.STR, description="slug, for people in several projects")
STATUSES = ("estimate", "what_if", "realized", "unavailable")


class ChartSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["bar", "histogram", "line"])
    title = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    values = serializers.ListField(child=serializers.CharField(), help_text="numbers (USD as decimal strings)")


class OpportunitySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="kind:scope:key, stable across runs (the digest compares by it)")
    kind = serializers.ChoiceField(choices=list(KINDS))
    scope = serializers.ChoiceField(choices=list(SCOPES))
    key = serializers.CharField(allow_blank=True, help_text="the feature or endpoint")
    status = serializers.ChoiceField(
        choices=list(STATUSES),
        help_text="estimate: a counted saving; what_if: a cheaper model nobody approved yet (saving null, see "
        "potential); realized: what an existing cache already saves; unavailable: a price the "
        "estimate needs is not in the catalog",
    )
    title = serializers.CharField()
    saving_per_month_usd = serializers.CharField(
        allow_null=True,
        help_text="USD per 30 days at the period's run rate (decimal string); null = not counted or unknown, never $0",
    )
    potential_per_month_usd = serializers.CharField(allow_null=True, help_text="what-if only: cheapest fitting model")
    # DRF's metaclass moves declared fields off the class, so this does not shadow BaseSerializer.partial.
    partial = serializers.BooleanField(help_text="some calls of the group have no known cost: excluded")  # type: ignore[assignment]
    excluded_calls = serializers.IntegerField(help_text="unpriced + unknown-usage calls of the group")
    sampled_calls = serializers.IntegerField()
    formula = serializers.CharField()
    evidence = serializers.DictField(help_text="the numbers the estimate used")
    notes = serializers.ListField(child=serializers.CharField())
    chart = serializers.DictField(allow_null=True)


class SavingsSerializer(serializers.Serializer):
    project = serializers.CharField()
    period = serializers.DictField(help_text="start, end (UTC, end exclusive), days, timezone")
    scope = serializers.ChoiceField(choices=list(SCOPES))
    groups_examined = serializers.IntegerField()
    groups_without_sample = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        help_text="groups with spend but no request of their own in the period (requests are sampled by the "
        "feature/endpoint of their first call): not estimated",
    )
    total_per_month_usd = serializers.CharField(help_text="sum of the counted estimates only")
    thresholds = serializers.DictField()
    results = OpportunitySerializer(many=True)


def opportunity_json(o: Opportunity) -> dict[str, object]:
    return {
        "id": o.id,
        "kind": o.kind,
        "scope": o.scope,
        "key": o.key,
        "status": o.status,
        "title": o.title,
        "saving_per_month_usd": decimal_text(o.saving_per_month),
        "potential_per_month_usd": decimal_text(o.potential_per_month),
        "partial": o.partial,
        "excluded_calls": o.excluded_calls,
        "sampled_calls": o.sampled_calls,
        "formula": o.formula,
        "evidence": o.evidence,
        "notes": o.notes,
        "chart": o.chart,
    }


def report_json(project, report: SavingsReport) -> dict[str, object]:  # noqa: ANN001 - Project
    return {
        "project": project.slug,
        "period": {
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "days": report.period_days,
            "timezone": project.timezone,
        },
        "scope": report.scope,
        "groups_examined": report.groups,
        "groups_without_sample": report.unsampled,
        "total_per_month_usd": decimal_text(report.total_per_month),
        "thresholds": report.thresholds.as_json(),
        "results": [opportunity_json(o) for o in report.opportunities],
    }


class SavingsView(ProjectAPIView):
    @extend_schema(
        summary="Savings opportunities, ranked by USD per month",
        description="Computed from rollups plus a bounded sample of each group's recent requests. Formulas: "
        "README, 'Savings advisor'. Unpriced and unknown-usage calls are never read as $0: they are "
        "counted in excluded_calls and the opportunity is marked partial.",
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter("period", OpenApiTypes.STR, enum=list(PERIODS), description="last N days incl. today"),
            OpenApiParameter("scope", OpenApiTypes.STR, enum=list(SCOPES), description="default feature"),
            OpenApiParameter("feature", OpenApiTypes.STR, description="only this feature"),
            OpenApiParameter("endpoint", OpenApiTypes.STR, description="only this endpoint (scope endpoint)"),
            OpenApiParameter(
                "kind", OpenApiTypes.STR, enum=list(KINDS), many=True, description="repeat or comma-separate"
            ),
        ],
        responses={200: SavingsSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        try:
            report = savings_report_for_query(project, request.query_params)
        except SavingsError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(report_json(project, report))


class ThresholdsSerializer(serializers.Serializer):
    thresholds = serializers.DictField(help_text="the project's thresholds (defaults filled in)")
    overrides = serializers.DictField(help_text="what the project changed")


class SavingsSettingsView(ProjectAPIView):
    @extend_schema(
        summary="Savings thresholds of the project",
        parameters=[PROJECT_PARAM],
        responses={200: ThresholdsSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        return Response(_thresholds_json(project))

    @extend_schema(
        summary="Replace the project's savings threshold overrides",
        description="A JSON object of threshold names (see GET) to values; shares and ratios as "
        "decimal strings. An empty object restores the defaults.",
        parameters=[PROJECT_PARAM],
        request=OpenApiTypes.OBJECT,
        responses={200: ThresholdsSerializer, **errors()},
    )
    def put(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        data = json_object(request, list(Thresholds().as_json()))
        try:
            save_thresholds(project, data)
        except SavingsError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(_thresholds_json(project))


def _thresholds_json(project) -> dict[str, object]:  # noqa: ANN001
    from costwatch.savings.models import SavingsSettings

    stored = SavingsSettings.objects.filter(project=project).values_list("thresholds", flat=True).first() or {}
    return {"thresholds": thresholds_of(project).as_json(), "overrides": stored}


class AlternativeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    feature = serializers.CharField()
    provider = serializers.CharField()
    model = serializers.CharField(help_text="catalog model key")
    note = serializers.CharField(required=False, allow_blank=True, default="")


def alternative_json(a: ApprovedAlternative) -> dict[str, object]:
    return {"id": a.pk, "feature": a.feature, "provider": a.provider, "model": a.model, "note": a.note}


class AlternativeListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = AlternativeSerializer(many=True)


class AlternativesView(ProjectAPIView):
    @extend_schema(
        summary="Approved alternative models per feature",
        parameters=[PROJECT_PARAM],
        responses={200: AlternativeListSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        return Response(
            {
                "project": project.slug,
                "results": [alternative_json(a) for a in ApprovedAlternative.objects.filter(project=project)],
            }
        )

    @extend_schema(
        summary="Approve a model for a feature (its what-if saving then counts)",
        parameters=[PROJECT_PARAM],
        request=AlternativeSerializer,
        responses={201: AlternativeSerializer, **errors()},
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        json_object(request, ["feature", "provider", "model", "note"])
        serializer = AlternativeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            alternative = approve_alternative(project, **serializer.validated_data)
        except SavingsError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(alternative_json(alternative), status=status.HTTP_201_CREATED)


class AlternativeView(ProjectAPIView):
    @extend_schema(
        summary="Withdraw an approved alternative", parameters=[PROJECT_PARAM], responses={204: None, **errors(404)}
    )
    def delete(self, request: Request, alternative_id: int) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        if not remove_alternative(project, alternative_id):
            raise NotFound("no such approved alternative in this project")
        return Response(status=status.HTTP_204_NO_CONTENT)


class DigestSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    channel = serializers.IntegerField(help_text="an alert channel of the project (webhook, Slack or email)")
    weekday = serializers.IntegerField(min_value=0, max_value=6, default=0, help_text="0 = Monday, project time zone")
    top = serializers.IntegerField(min_value=1, max_value=20, default=5)
    last_week = serializers.CharField(read_only=True, help_text="ISO week of the last digest sent")


def digest_json(d) -> dict[str, object]:  # noqa: ANN001 - SavingsDigest
    return {"id": d.pk, "channel": d.channel_id, "weekday": d.weekday, "top": d.top, "last_week": d.last_week or None}


class DigestListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = DigestSerializer(many=True)


class DigestsView(ProjectAPIView):
    @extend_schema(
        summary="Weekly savings digests of the project",
        parameters=[PROJECT_PARAM],
        responses={200: DigestListSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        from costwatch.savings.models import SavingsDigest

        project = request_project(request)
        return Response(
            {
                "project": project.slug,
                "results": [digest_json(d) for d in SavingsDigest.objects.filter(project=project).order_by("id")],
            }
        )

    @extend_schema(
        summary="Send the weekly savings digest to a channel",
        parameters=[PROJECT_PARAM],
        request=DigestSerializer,
        responses={201: DigestSerializer, **errors()},
    )
    def post(self, request: Request) -> Response:
        from alerts.models import Channel
        from costwatch.savings.digest import save_digest

        project = request_project(request, Action.MANAGE_ALERTS)
        json_object(request, ["channel", "weekday", "top"])
        serializer = DigestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        channel = Channel.objects.filter(project=project, pk=data["channel"]).first()
        if channel is None:
            raise ValidationError({"channel": f"no channel {data['channel']} in project {project.slug}"})
        try:
            digest = save_digest(project, channel, weekday=data["weekday"], top=data["top"])
        except SavingsError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(digest_json(digest), status=status.HTTP_201_CREATED)


class DigestView(ProjectAPIView):
    @extend_schema(
        summary="Stop a weekly savings digest", parameters=[PROJECT_PARAM], responses={204: None, **errors(404)}
    )
    def delete(self, request: Request, digest_id: int) -> Response:
        from costwatch.savings.models import SavingsDigest

        project = request_project(request, Action.MANAGE_ALERTS)
        if not SavingsDigest.objects.filter(project=project, pk=digest_id).delete()[0]:
            raise NotFound("no such digest in this project")
        return Response(status=status.HTTP_204_NO_CONTENT)
