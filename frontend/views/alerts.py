"""Alert pages: firing incidents (acknowledge, silence), history, rules and channels.

Every change goes through the alerts services; the validity of a rule or a channel is decided by the
alerts app (``alerts.rules.validate_rule``, and the channel kind's transport through
``save_channel``), so the pages and the API accept the same things.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts.deliveries import send_test_notification
from alerts.incidents import IncidentStateError
from alerts.incidents import acknowledge as acknowledge_incident
from alerts.incidents import silence as silence_incident
from alerts.incidents import unsilence as unsilence_incident
from alerts.models import (
    Channel,
    Delivery,
    Incident,
    IncidentEvent,
    IncidentState,
    Rule,
)
from alerts.queries import incidents_with_delivery_failures
from alerts.rules import (
    RuleInvalid,
    rule_warnings,
    save_channel,
    save_rule,
    validate_rule,
)
from alerts.scopes import (
    incident_warnings,
    is_custom,
    rule_warnings_now,
    scope_choices,
    scope_label,
    scope_name,
    scope_names,
)
from alerts.transports import ConfigError
from costwatch.money import decimal_json
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from frontend.access import project_view
from frontend.forms import ChannelForm, RuleForm, SilenceForm


def _incident(project: Project, incident_id: int) -> Incident:
    incident = (
        Incident.objects.filter(project=project, pk=incident_id).select_related("rule", "acknowledged_by").first()
    )
    if incident is None:
        raise Http404("No such incident in this project.")
    return incident


@project_view(Action.VIEW_ALERTS)
def incidents(request: HttpRequest, project: Project) -> HttpResponse:
    firing = incidents_with_delivery_failures(
        Incident.objects.filter(project=project, state=IncidentState.FIRING)
        .select_related("rule", "acknowledged_by")
        .order_by("-opened_at")
    )
    return render(
        request,
        "frontend/alerts/incidents.html",
        {
            "firing": firing,
            "silence_form": SilenceForm(),
            "now": timezone.now(),
        },
    )


@project_view(Action.VIEW_ALERTS)
def history(request: HttpRequest, project: Project) -> HttpResponse:
    events = (
        IncidentEvent.objects.filter(incident__project=project)
        .select_related("incident__rule", "actor")
        .order_by("-at", "-id")[:200]
    )
    resolved = (
        Incident.objects.filter(project=project, state=IncidentState.RESOLVED)
        .select_related("rule")
        .order_by("-resolved_at")[:100]
    )
    return render(request, "frontend/alerts/history.html", {"events": events, "resolved": resolved})


@project_view(Action.VIEW_ALERTS)
def incident_detail(request: HttpRequest, project: Project, incident_id: int) -> HttpResponse:
    incident = _incident(project, incident_id)
    return render(
        request,
        "frontend/alerts/incident.html",
        {
            "incident": incident,
            # "tenant acme": a custom dimension's value is named with it (a user id reads as itself).
            "dimension": scope_name(incident.rule) if is_custom(incident.rule.scope) else None,
            "warnings": incident_warnings(incident),
            "events": incident.events.select_related("actor"),
            "deliveries": incident.deliveries.select_related("channel").order_by("id"),
            "silence_form": SilenceForm(),
            "now": timezone.now(),
        },
    )


def _back(request: HttpRequest, project: Project) -> HttpResponse:
    target = request.POST.get("next", "")
    if target.startswith(f"/p/{project.slug}/alerts/"):
        return redirect(target)
    return redirect("frontend:alerts", slug=project.slug)


@require_POST
@project_view(Action.WORK_INCIDENTS)
def acknowledge(request: HttpRequest, project: Project, incident_id: int) -> HttpResponse:
    incident = _incident(project, incident_id)
    assert request.user.is_authenticated  # project_view requires a signed-in person
    try:
        changed = acknowledge_incident(incident, request.user)
    except IncidentStateError as exc:
        messages.error(request, f"Could not acknowledge: {exc}.")
    else:
        messages.success(
            request,
            f"Acknowledged “{incident.rule.name}”; reminders stop."
            if changed
            else f"“{incident.rule.name}” was already acknowledged.",
        )
    return _back(request, project)


@require_POST
@project_view(Action.WORK_INCIDENTS)
def silence(request: HttpRequest, project: Project, incident_id: int) -> HttpResponse:
    incident = _incident(project, incident_id)
    form = SilenceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "To silence, choose how long and give a reason.")
        return _back(request, project)
    until = timezone.now() + timedelta(minutes=form.cleaned_data["minutes"])
    assert request.user.is_authenticated  # project_view requires a signed-in person
    try:
        silence_incident(incident, request.user, until, form.cleaned_data["reason"])
    except IncidentStateError as exc:
        messages.error(request, f"Could not silence: {exc}.")
    else:
        messages.success(request, f"Silenced “{incident.rule.name}” until {timezone.localtime(until):%Y-%m-%d %H:%M}.")
    return _back(request, project)


@require_POST
@project_view(Action.WORK_INCIDENTS)
def unsilence(request: HttpRequest, project: Project, incident_id: int) -> HttpResponse:
    incident = _incident(project, incident_id)
    assert request.user.is_authenticated  # project_view requires a signed-in person
    if unsilence_incident(incident, request.user):
        messages.success(request, f"Lifted the silence on “{incident.rule.name}”.")
    return _back(request, project)


# --- Rules ----------------------------------------------------------------------------------------


@project_view(Action.VIEW_ALERTS)
def rules(request: HttpRequest, project: Project) -> HttpResponse:
    names = scope_names(project)
    now = timezone.now()
    listed = Rule.objects.filter(project=project).select_related("project").prefetch_related("channels")
    return render(
        request,
        "frontend/alerts/rules.html",
        {
            "rules": [(rule, scope_label(rule, names), rule_warnings_now(rule, now)) for rule in listed],
        },
    )


def _rule(project: Project, rule_id: int) -> Rule:
    rule = Rule.objects.filter(project=project, pk=rule_id).prefetch_related("channels").first()
    if rule is None:
        raise Http404("No such rule in this project.")
    return rule


def _initial_of(rule: Rule) -> dict[str, object]:
    """The rule's fields as the form shows them (the names ``validate_rule`` takes; exact numbers)."""
    return {
        "name": rule.name,
        "kind": rule.kind,
        "scope": scope_name(rule),
        "scope_value": rule.scope_value,
        "period": rule.period,
        "amount_usd": decimal_json(rule.amount),
        "warn_percents": ", ".join(str(p) for p in rule.warn_percents or []),
        "forecast": rule.forecast,
        "anomaly_factor": decimal_json(rule.anomaly_factor),
        "anomaly_days": rule.anomaly_days,
        "min_baseline_usd": decimal_json(rule.min_baseline),
        "min_spend_usd": decimal_json(rule.min_spend),
        "same_weekday": rule.same_weekday,
        "drift_percent": decimal_json(rule.drift_percent),
        "drift_usd": decimal_json(rule.drift_usd),
        "drift_days": rule.drift_days,
        "drift_provider": rule.drift_provider,
        "request_metric": rule.request_metric,
        "request_limit": decimal_json(rule.request_limit),
        "repeat_interval_minutes": int(rule.repeat_interval.total_seconds() // 60),
        "enabled": rule.enabled,
        "channels": [str(c.pk) for c in rule.channels.all()],
    }


@project_view(Action.MANAGE_ALERTS)
def rule_edit(request: HttpRequest, project: Project, rule_id: int | None = None) -> HttpResponse:
    rule = _rule(project, rule_id) if rule_id is not None else None
    channels = list(Channel.objects.filter(project=project).values_list("pk", "name"))
    scopes = scope_choices(project)
    if request.method != "POST":
        form = RuleForm(initial=_initial_of(rule) if rule else None, channels=channels, scopes=scopes)
        return render(request, "frontend/alerts/rule_form.html", {"form": form, "rule": rule})
    form = RuleForm(request.POST, channels=channels, scopes=scopes)
    if form.is_valid():
        try:
            changes = validate_rule(project, form.rule_data(), rule)
            saved = save_rule(project, changes.fields, changes.channels, rule)
        except RuleInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Rule “{saved.name}” saved.")
            for warning in rule_warnings(list(saved.channels.all())):
                messages.warning(request, f"“{saved.name}”: {warning} Add a channel under Notify these channels.")
            for warning in rule_warnings_now(saved, timezone.now()):
                messages.warning(request, f"“{saved.name}”: {warning}")
            return redirect("frontend:rules", slug=project.slug)
    return render(request, "frontend/alerts/rule_form.html", {"form": form, "rule": rule}, status=400)


@require_POST
@project_view(Action.MANAGE_ALERTS)
def rule_enabled(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    rule = _rule(project, rule_id)
    enabled = request.POST.get("enabled") == "true"
    save_rule(project, {"enabled": enabled}, None, rule)  # switching it cannot make a rule invalid
    messages.success(request, f"Rule “{rule.name}” {'enabled' if enabled else 'disabled'}.")
    return redirect("frontend:rules", slug=project.slug)


# --- Channels -------------------------------------------------------------------------------------


@project_view(Action.VIEW_ALERTS)
def channels(request: HttpRequest, project: Project) -> HttpResponse:
    listed = list(Channel.objects.filter(project=project))
    latest: dict[int, Delivery] = {}
    for delivery in Delivery.objects.filter(project=project).order_by("-created_at", "-id")[:500]:
        latest.setdefault(delivery.channel_id, delivery)
    return render(
        request,
        "frontend/alerts/channels.html",
        {
            "channels": [(channel, latest.get(channel.pk)) for channel in listed],
        },
    )


def _channel(project: Project, channel_id: int) -> Channel:
    channel = Channel.objects.filter(project=project, pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel in this project.")
    return channel


@project_view(Action.MANAGE_CHANNELS)
def channel_edit(request: HttpRequest, project: Project, channel_id: int | None = None) -> HttpResponse:
    channel = _channel(project, channel_id) if channel_id is not None else None
    if request.method != "POST":
        initial = None
        if channel:
            initial = {"name": channel.name, "kind": channel.kind, "enabled": channel.enabled, **channel.config}
            if isinstance(initial.get("to"), list):
                initial["to"] = ", ".join(initial["to"])
        return render(
            request, "frontend/alerts/channel_form.html", {"form": ChannelForm(initial=initial), "channel": channel}
        )
    form = ChannelForm(request.POST)
    if form.is_valid():
        fields = {
            "name": form.cleaned_data["name"],
            "kind": form.cleaned_data["kind"],
            "config": form.config(),
            "enabled": form.cleaned_data["enabled"],
        }
        try:
            saved = save_channel(project, fields, channel)
        except ConfigError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Channel “{saved.name}” saved.")
            return redirect("frontend:channels", slug=project.slug)
    return render(request, "frontend/alerts/channel_form.html", {"form": form, "channel": channel}, status=400)


@require_POST
@project_view(Action.MANAGE_ALERTS)
def channel_test(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    channel = _channel(project, channel_id)
    delivery = send_test_notification(channel)
    messages.success(
        request,
        f"Test notification to “{channel.name}” queued (delivery #{delivery.pk}); "
        "its result shows here once the worker has sent it.",
    )
    return redirect("frontend:channels", slug=project.slug)


# --- Links in notifications ----------------------------------------------------------------------


@login_required
def incident_link(request: HttpRequest, incident_id: int) -> HttpResponse:
    """Notifications link to /alerts/incidents/<id>/ (no project in the URL): find it, check, redirect."""
    incident = Incident.objects.filter(pk=incident_id).select_related("project").first()
    if incident is None or not can(request.user, incident.project, Action.VIEW_ALERTS):
        if incident is not None and can(request.user, incident.project, Action.VIEW_COSTS):
            raise PermissionDenied("Your role does not allow alerts (view_alerts).")
        raise Http404("No such incident, or you are not a member of its project.")
    return redirect("frontend:incident", slug=incident.project.slug, incident_id=incident.pk)


@login_required
def alerts_link(request: HttpRequest) -> HttpResponse:
    from frontend.access import visible_projects

    project = visible_projects(request.user).first()
    if project is None:
        return redirect("frontend:home")
    return redirect("frontend:alerts", slug=project.slug)
