"""The alerts API (/api/v1/alerts/..., /api/v1/budgets/status): thin views over the alerts services
(``rules``: validity and saving, ``incidents``: acknowledge and silence, ``deliveries``: test
notifications, ``budgets``: budget status). Serializers here only parse input and shape output.

Logged-in people need VIEW_ALERTS to read, MANAGE_ALERTS for rules and channels, WORK_INCIDENTS to
acknowledge and silence. Read keys may only read (their own project).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.budgets import budget_status
from alerts.deliveries import send_test_notification
from alerts.evaluation import REQUEST_BUDGET
from alerts.incidents import IncidentStateError, acknowledge, silence, unsilence
from alerts.models import (
    BudgetPeriod,
    Channel,
    Delivery,
    Incident,
    IncidentState,
    RequestMetric,
    Rule,
    RuleKind,
    Scope,
)
from alerts.notifications import incident_link
from alerts.queries import IncidentWithFailures, incidents_with_delivery_failures
from alerts.rules import (
    DRIFT_PROVIDERS,
    MAX_NAME,
    MAX_SCOPE_VALUE,
    MAX_WARN_PERCENTS,
    RuleInvalid,
    field_bounds,
    integer_bounds,
    rule_warnings,
    save_channel,
    save_rule,
    validate_rule,
)
from alerts.scopes import SCOPE_HELP, rule_warnings_now, scope_name, scope_names
from alerts.serializers import (
    BudgetStatusSerializer,
    ChannelListSerializer,
    ChannelOutSerializer,
    DeliveryListSerializer,
    DeliverySerializer,
    IncidentDetailSerializer,
    IncidentListSerializer,
    IncidentSerializer,
    RuleListSerializer,
    RuleOutSerializer,
)
from alerts.transports import ConfigError, channel_kinds, config_help
from costwatch.model_fields import MONEY
from costwatch.money import decimal_json
from costwatch.projects.api import ProjectAPIView, request_project
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from costwatch.projects.schema import PROJECT_PARAM, errors
from costwatch.usage.dimensions import dimensions_of

MAX_LIST = 500


def may_manage(request: Request, project: Project) -> bool:
    return can(request.user, project, Action.MANAGE_ALERTS)


class MoneyField(serializers.DecimalField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**MONEY, **kwargs)

    # DRF's own DecimalField.to_representation gives None for None too; its stubs say str.
    def to_representation(self, value: Decimal | None) -> str | None:  # type: ignore[override]
        return decimal_json(Decimal(value)) if value is not None else None


# --- Channels -------------------------------------------------------------------------------------


class ChannelSerializer(serializers.Serializer):
    # Parsing only: the config is checked by the kind's transport (alerts.rules.save_channel).
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=channel_kinds())
    name = serializers.CharField(max_length=200)
    config = serializers.JSONField(help_text=config_help())
    enabled = serializers.BooleanField(default=True)
    secret = serializers.CharField(read_only=True, help_text="Signs webhook bodies (X-Costwatch-Signature).")
    created_at = serializers.DateTimeField(read_only=True)


def channel_out(channel: Channel, *, manager: bool) -> dict[str, Any]:
    """A channel as the API shows it: its config and signing secret only to people who manage alerts."""
    data = dict(ChannelOutSerializer(channel).data)
    if not manager:
        data.pop("config")
        data.pop("secret")
    return data


def _save_channel(serializer: ChannelSerializer, project: Project, channel: Channel | None = None) -> Channel:
    serializer.is_valid(raise_exception=True)
    try:
        return save_channel(project, serializer.validated_data, channel)
    except ConfigError as exc:
        raise ValidationError({"config": [str(exc)]}) from None


def _channel(project: Project, pk: int) -> Channel:
    channel = Channel.objects.filter(project=project, pk=pk).first()
    if channel is None:
        raise NotFound(f"no channel {pk} in project {project.slug}")
    return channel


class ChannelListView(ProjectAPIView):
    @extend_schema(
        operation_id="alerts_channels_list",
        parameters=[PROJECT_PARAM],
        responses={200: ChannelListSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        manager = may_manage(request, project)
        channels = [channel_out(c, manager=manager) for c in Channel.objects.filter(project=project)]
        return Response(ChannelListSerializer({"project": project.slug, "results": channels}).data)

    @extend_schema(
        parameters=[PROJECT_PARAM], request=ChannelSerializer, responses={201: ChannelOutSerializer, **errors(400)}
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_CHANNELS)
        channel = _save_channel(ChannelSerializer(data=request.data), project)
        return Response(channel_out(channel, manager=True), status=status.HTTP_201_CREATED)


class ChannelDetailView(ProjectAPIView):
    @extend_schema(parameters=[PROJECT_PARAM], responses={200: ChannelOutSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        return Response(channel_out(_channel(project, pk), manager=may_manage(request, project)))

    @extend_schema(
        parameters=[PROJECT_PARAM], request=ChannelSerializer, responses={200: ChannelOutSerializer, **errors(400, 404)}
    )
    def patch(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.MANAGE_CHANNELS)
        channel = _channel(project, pk)
        channel = _save_channel(ChannelSerializer(channel, data=request.data, partial=True), project, channel)
        return Response(channel_out(channel, manager=True))

    @extend_schema(parameters=[PROJECT_PARAM], responses={204: None, **errors(404)})
    def delete(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.MANAGE_CHANNELS)
        _channel(project, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def delivery_json(d: Delivery) -> dict[str, Any]:
    return DeliverySerializer(
        {
            "id": d.pk,
            "channel": d.channel_id,
            "incident": d.incident_id,
            "event": d.event,
            "sequence": d.sequence,
            "status": d.status,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat(),
            "last_error": d.last_error,
            "created_at": d.created_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "attempt_log": [
                {
                    "number": a.number,
                    "at": a.at.isoformat(),
                    "ok": a.ok,
                    "permanent": a.permanent,
                    "status_code": a.status_code,
                    "duration_ms": a.duration_ms,
                    "detail": a.detail,
                }
                for a in d.attempt_log.all()
            ],
        }
    ).data


class ChannelTestView(ProjectAPIView):
    @extend_schema(
        parameters=[PROJECT_PARAM],
        request=None,
        responses={
            202: OpenApiResponse(
                DeliverySerializer, description="Queued; poll the channel's deliveries for the result"
            ),
            **errors(404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        delivery = send_test_notification(_channel(project, pk))
        return Response(delivery_json(delivery), status=status.HTTP_202_ACCEPTED)


class ChannelDeliveriesView(ProjectAPIView):
    @extend_schema(parameters=[PROJECT_PARAM], responses={200: DeliveryListSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        channel = _channel(project, pk)
        deliveries = Delivery.objects.filter(project=project, channel=channel).prefetch_related("attempt_log")[:100]
        return Response(
            DeliveryListSerializer({"channel": channel.pk, "results": [delivery_json(d) for d in deliveries]}).data
        )


# --- Rules ----------------------------------------------------------------------------------------


class RuleSerializer(serializers.Serializer):
    # Parsing only (types; choices and bounds from alerts.rules, for the schema): whether the rule is
    # valid is alerts.rules.validate_rule's call.
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=MAX_NAME)
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    scope = serializers.CharField(max_length=64, default=Scope.PROJECT, help_text=SCOPE_HELP)
    scope_value = serializers.CharField(
        max_length=MAX_SCOPE_VALUE,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Only this user/feature/endpoint/model/<dimension> value; empty = each one.",
    )
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False, help_text="budget rules")
    amount_usd = MoneyField(required=False, allow_null=True, help_text="budget rules", **field_bounds("amount_usd"))
    warn_percents = serializers.ListField(
        child=serializers.IntegerField(**integer_bounds("warn_percents")),
        required=False,
        max_length=MAX_WARN_PERCENTS,
        help_text="e.g. [80, 90]",
    )
    forecast = serializers.BooleanField(required=False, help_text="also alert on the period-end forecast")
    anomaly_factor = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, coerce_to_string=True, **field_bounds("anomaly_factor")
    )
    anomaly_days = serializers.IntegerField(required=False, **integer_bounds("anomaly_days"))
    min_baseline_usd = MoneyField(required=False, **field_bounds("min_baseline_usd"))
    min_spend_usd = MoneyField(required=False, **field_bounds("min_spend_usd"))
    same_weekday = serializers.BooleanField(required=False)
    drift_percent = serializers.DecimalField(
        max_digits=8,
        decimal_places=3,
        required=False,
        allow_null=True,
        coerce_to_string=True,
        **field_bounds("drift_percent"),
        help_text="drift rules: |billed - estimated| as % of the bill",
    )
    drift_usd = MoneyField(
        required=False,
        allow_null=True,
        help_text="drift rules: |billed - estimated| in USD",
        **field_bounds("drift_usd"),
    )
    drift_days = serializers.IntegerField(
        required=False, help_text="drift rules: complete UTC days watched (default 3)", **integer_bounds("drift_days")
    )
    drift_provider = serializers.ChoiceField(
        choices=[(p, p) for p in DRIFT_PROVIDERS],
        required=False,
        allow_blank=True,
        help_text="drift rules: only this provider's bill; empty = each",
    )
    request_metric = serializers.ChoiceField(
        choices=RequestMetric.choices,
        required=False,
        allow_blank=True,
        help_text="request_budget rules: what one request may use",
    )
    request_limit = serializers.DecimalField(
        max_digits=24,
        decimal_places=12,
        required=False,
        allow_null=True,
        coerce_to_string=True,
        **field_bounds("request_limit"),
        help_text="request_budget rules: tokens, or USD for cost (as a string)",
    )
    repeat_interval_minutes = serializers.IntegerField(required=False, **integer_bounds("repeat_interval_minutes"))
    enabled = serializers.BooleanField(required=False)
    channels = serializers.ListField(child=serializers.IntegerField(), required=False)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, rule: Rule) -> dict[str, Any]:
        channels = list(rule.channels.all())
        notifies_nobody = not any(c.enabled for c in channels)
        return RuleOutSerializer(
            {
                "id": rule.pk,
                "name": rule.name,
                "kind": rule.kind,
                "scope": scope_name(rule, self.context.get("scope_names")),
                "scope_value": rule.scope_value or None,
                "period": rule.period,
                "amount_usd": decimal_json(rule.amount),
                "warn_percents": list(rule.warn_percents or []),
                "forecast": rule.forecast,
                "anomaly_factor": decimal_json(rule.anomaly_factor),
                "anomaly_days": rule.anomaly_days,
                "min_baseline_usd": decimal_json(rule.min_baseline),
                "min_spend_usd": decimal_json(rule.min_spend),
                "same_weekday": rule.same_weekday,
                "drift_percent": decimal_json(rule.drift_percent) if rule.drift_percent is not None else None,
                "drift_usd": decimal_json(rule.drift_usd) if rule.drift_usd is not None else None,
                "drift_days": rule.drift_days,
                "drift_provider": rule.drift_provider or None,
                "request_metric": rule.request_metric or None,
                "request_limit": decimal_json(rule.request_limit) if rule.request_limit is not None else None,
                "repeat_interval_minutes": int(rule.repeat_interval.total_seconds() // 60),
                "enabled": rule.enabled,
                "channels": sorted(c.pk for c in channels),
                "notifies_nobody": notifies_nobody,
                "warnings": [*rule_warnings(channels), *rule_warnings_now(rule, timezone.now())],
                "created_at": rule.created_at.isoformat(),
                "updated_at": rule.updated_at.isoformat(),
            }
        ).data


def _rule(project: Project, pk: int) -> Rule:
    rule = Rule.objects.filter(project=project, pk=pk).prefetch_related("channels").first()
    if rule is None:
        raise NotFound(f"no rule {pk} in project {project.slug}")
    return rule


def _save(serializer: RuleSerializer, project: Project, rule: Rule | None = None) -> Rule:
    serializer.is_valid(raise_exception=True)
    try:
        changes = validate_rule(project, serializer.validated_data, rule)
        return save_rule(project, changes.fields, changes.channels, rule)
    except RuleInvalid as exc:
        raise ValidationError({exc.field: [exc.message]}) from None


class RuleListView(ProjectAPIView):
    @extend_schema(
        operation_id="alerts_rules_list", parameters=[PROJECT_PARAM], responses={200: RuleListSerializer, **errors()}
    )
    def get(self, request: Request) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        rules = Rule.objects.filter(project=project).select_related("project").prefetch_related("channels")
        results = RuleSerializer(rules, many=True, context={"scope_names": scope_names(project)}).data
        return Response(RuleListSerializer({"project": project.slug, "results": results}).data)

    @extend_schema(
        parameters=[PROJECT_PARAM],
        request=RuleSerializer,
        responses={201: RuleOutSerializer, **errors(400)},
        description="A rule with no (enabled) channel is saved, and says so: notifies_nobody, warnings.",
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        rule = _save(RuleSerializer(data=request.data), project)
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(ProjectAPIView):
    @extend_schema(parameters=[PROJECT_PARAM], responses={200: RuleOutSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        return Response(RuleSerializer(_rule(project, pk)).data)

    @extend_schema(
        parameters=[PROJECT_PARAM], request=RuleSerializer, responses={200: RuleOutSerializer, **errors(400, 404)}
    )
    def patch(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        rule = _rule(project, pk)
        rule = _save(RuleSerializer(rule, data=request.data, partial=True), project, rule)
        return Response(RuleSerializer(_rule(project, rule.pk)).data)

    @extend_schema(parameters=[PROJECT_PARAM], responses={204: None, **errors(404)})
    def delete(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.MANAGE_ALERTS)
        _rule(project, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Incidents ------------------------------------------------------------------------------------


def incident_json(
    i: IncidentWithFailures, *, history: bool = False, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """An incident as the API shows it; ``names``: ``scope_names(project)`` when listing many."""
    now = timezone.now()
    data: dict[str, Any] = {
        "id": i.pk,
        "rule": {"id": i.rule_id, "name": i.rule.name, "kind": i.rule.kind, "scope": scope_name(i.rule, names)},
        "group": i.group_key or None,
        "period_key": i.period_key,
        "period_start": i.period_start.isoformat(),
        "period_end": i.period_end.isoformat(),
        "level": i.level,
        "severity": i.severity,
        "state": i.state,
        "episode": i.episode,
        "value_usd": decimal_json(i.value),
        "threshold_usd": decimal_json(i.threshold),
        "opened_at": i.opened_at.isoformat(),
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
        "acknowledged_by": i.acknowledged_by.get_username() if i.acknowledged_by else None,
        "acknowledged_at": i.acknowledged_at.isoformat() if i.acknowledged_at else None,
        "silenced": bool(i.silenced_until and i.silenced_until > now),
        "silenced_until": i.silenced_until.isoformat() if i.silenced_until else None,
        "silence_reason": i.silence_reason,
        "last_notified_at": i.last_notified_at.isoformat() if i.last_notified_at else None,
        "reminders_sent": i.reminders_sent,
        "link": incident_link(i.pk),
        "failed_deliveries": i.failed_deliveries,
        "last_delivery_error": i.last_delivery_error,
    }
    if i.level == REQUEST_BUDGET:  # the value is a count of requests, the threshold tokens or USD
        cost_limit = i.rule.request_metric == RequestMetric.COST
        data.update(
            value_usd=None,
            threshold_usd=decimal_json(i.threshold) if cost_limit else None,
            offending_requests=int(i.value),
            request_metric=i.rule.request_metric,
            request_limit=decimal_json(i.threshold),
            evidence=i.evidence,
        )
    if history:
        data["history"] = [
            {
                "kind": e.kind,
                "at": e.at.isoformat(),
                "actor": e.actor.get_username() if e.actor else None,
                "value_usd": decimal_json(e.value),
                "note": e.note,
            }
            for e in i.events.select_related("actor")
        ]
        data["deliveries"] = [delivery_json(d) for d in i.deliveries.prefetch_related("attempt_log").order_by("id")]
        return IncidentDetailSerializer(data).data
    return IncidentSerializer(data).data


def _incidents(project: Project) -> QuerySet[IncidentWithFailures]:
    """The project's incidents with their failed deliveries counted and the newest failure's error."""
    return incidents_with_delivery_failures(
        Incident.objects.filter(project=project).select_related("rule", "acknowledged_by")
    )


def _incident(project: Project, pk: int) -> IncidentWithFailures:
    incident = _incidents(project).filter(pk=pk).first()
    if incident is None:
        raise NotFound(f"no incident {pk} in project {project.slug}")
    return incident


class IncidentListView(ProjectAPIView):
    @extend_schema(
        operation_id="alerts_incidents_list",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(IncidentState.values)),
            OpenApiParameter("rule", OpenApiTypes.INT),
            PROJECT_PARAM,
        ],
        responses={200: IncidentListSerializer, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        incidents = _incidents(project)
        names = scope_names(project)
        state = request.query_params.get("state")
        if state:
            if state not in IncidentState.values:
                raise ValidationError({"state": f"use one of {', '.join(IncidentState.values)}"})
            incidents = incidents.filter(state=state)
        rule = request.query_params.get("rule")
        if rule:
            if not rule.isdigit():
                raise ValidationError({"rule": "must be a rule id"})
            incidents = incidents.filter(rule_id=int(rule))
        return Response(
            IncidentListSerializer(
                {"project": project.slug, "results": [incident_json(i, names=names) for i in incidents[:MAX_LIST]]}
            ).data
        )


class IncidentDetailView(ProjectAPIView):
    @extend_schema(parameters=[PROJECT_PARAM], responses={200: IncidentDetailSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        return Response(incident_json(_incident(project, pk), history=True))


class SilenceSerializer(serializers.Serializer):
    until = serializers.DateTimeField(required=False, help_text="ISO 8601 end of the silence")
    minutes = serializers.IntegerField(required=False, min_value=1, max_value=90 * 24 * 60)
    reason = serializers.CharField(max_length=500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("until" in attrs) == ("minutes" in attrs):
            raise ValidationError("give either until or minutes")
        return attrs


class IncidentActionView(ProjectAPIView):
    incident_action = ""

    @extend_schema(
        parameters=[PROJECT_PARAM],
        request=SilenceSerializer,
        responses={200: IncidentSerializer, **errors(400, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        project = request_project(request, Action.WORK_INCIDENTS)
        incident = _incident(project, pk)
        assert request.user.is_authenticated  # WORK_INCIDENTS: a signed-in person, never a (read-only) key
        try:
            if self.incident_action == "ack":
                acknowledge(incident, request.user)
            elif self.incident_action == "silence":
                form = SilenceSerializer(data=request.data)
                form.is_valid(raise_exception=True)
                until = form.validated_data.get("until") or timezone.now() + timedelta(
                    minutes=form.validated_data["minutes"]
                )
                silence(incident, request.user, until, form.validated_data["reason"])
            else:
                unsilence(incident, request.user)
        except IncidentStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(incident_json(_incident(project, pk)))


class IncidentAckView(IncidentActionView):
    incident_action = "ack"

    @extend_schema(
        parameters=[PROJECT_PARAM],
        request=None,
        responses={200: IncidentSerializer, **errors(404, 409)},
        summary="Acknowledge a firing incident",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class IncidentSilenceView(IncidentActionView):
    incident_action = "silence"

    @extend_schema(
        parameters=[PROJECT_PARAM],
        request=SilenceSerializer,
        responses={200: IncidentSerializer, **errors(400, 404, 409)},
        summary="Silence an incident until a time, or for some minutes, with a reason",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class IncidentUnsilenceView(IncidentActionView):
    incident_action = "unsilence"

    @extend_schema(
        parameters=[PROJECT_PARAM],
        request=None,
        responses={200: IncidentSerializer, **errors(404, 409)},
        summary="End an incident's silence",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


# --- Budget status for apps -----------------------------------------------------------------------

BUDGET_DIMENSIONS = ("user", "feature", "endpoint", "model")


class BudgetStatusView(ProjectAPIView):
    @extend_schema(
        parameters=[*[OpenApiParameter(d, OpenApiTypes.STR) for d in BUDGET_DIMENSIONS], PROJECT_PARAM],
        responses={200: BudgetStatusSerializer, **errors()},
        description="Spend, limit and what remains for every enabled budget rule that applies to the given "
        "user (and/or feature, endpoint, model, or a custom dimension by its name, e.g. tenant=acme) "
        "and to the whole project. Spend comes from rollups, a few seconds behind ingest.",
    )
    def get(self, request: Request) -> Response:
        project = request_project(request, Action.VIEW_ALERTS)
        groups = {d: request.query_params[d] for d in BUDGET_DIMENSIONS if request.query_params.get(d)}
        dimensions = {d.name: d for d in dimensions_of(project)}
        asked = {name: request.query_params[name] for name in dimensions if request.query_params.get(name)}
        groups.update({dimensions[name].rollup_dimension: value for name, value in asked.items()})
        now = timezone.now()
        statuses = budget_status(project, groups, now)
        names = scope_names(project)
        return Response(
            BudgetStatusSerializer(
                {
                    "project": project.slug,
                    "at": now.isoformat(),
                    **{d: v for d, v in groups.items() if d in BUDGET_DIMENSIONS},
                    "dimensions": asked,
                    "exceeded": any(s.exceeded for s in statuses),
                    "budgets": [
                        {
                            "rule": {"id": s.rule.pk, "name": s.rule.name},
                            "scope": scope_name(s.rule, names),
                            "group": s.group or None,
                            "period": s.rule.period,
                            "period_key": s.window.key,
                            "period_start": s.window.start.isoformat(),
                            "period_end": s.window.end.isoformat(),
                            "spend_usd": decimal_json(s.spend),
                            "limit_usd": decimal_json(s.limit),
                            "remaining_usd": decimal_json(s.remaining),
                            "exceeded": s.exceeded,
                        }
                        for s in statuses
                    ],
                }
            ).data
        )
