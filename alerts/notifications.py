"""The notification of an incident's transition, built once and stored on its delivery rows.

``notification_payload`` is the one writer of the JSON every channel renders (webhooks receive it as
is; ``alerts.transports.base.Notification`` reads it for the others): what happened, to which group,
the value against the threshold (exact decimal strings, USD), the period in the project's time zone,
a summary sentence for people and the link to the incident.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.conf import settings

from alerts.evaluation import (
    ANOMALY,
    BREACH,
    DRIFT,
    FORECAST,
    REQUEST_BUDGET,
    WARN_PREFIX,
)
from alerts.models import (
    Channel,
    DeliveryEvent,
    Incident,
    IncidentEventKind,
    RequestMetric,
    Rule,
    RuleKind,
    Scope,
)
from alerts.scopes import incident_warnings, scope_name
from costwatch.money import decimal_json, format_usd
from costwatch.projects.calendar import ProjectCalendar
from costwatch.projects.models import Project


def incident_link(incident_id: int) -> str:
    return f"{settings.COSTWATCH_PUBLIC_URL.rstrip('/')}/alerts/incidents/{incident_id}/"


def dedup_key(incident: Incident) -> str:
    """Shared by every level of one (rule, group, period): PagerDuty updates one alert as it escalates."""
    raw = f"{incident.project_id}:{incident.rule_id}:{incident.group_key}:{incident.period_key}"
    return "costwatch-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _summary(incident: Incident, rule: Rule, event: str, who: str, previous_level: str | None = None) -> str:
    value, threshold = incident.value, incident.threshold
    if event == DeliveryEvent.RESOLVED:
        return f"Resolved: {_resolution(incident, rule, who)} [{rule.name}]"
    if incident.level == REQUEST_BUDGET:
        text = _request_budget_text(incident, rule)
    elif incident.level == DRIFT:
        provider, _, day = incident.group_key.partition(" ")
        text = (
            f"Bill drift: {provider}'s bill for {day} (UTC) and Costwatch's estimate differ by "
            f"{format_usd(value, 2)} (threshold {format_usd(threshold, 2)})"
        )
    elif incident.level == ANOMALY:
        text = (
            f"Spend anomaly: {who} spent {format_usd(value, 2)} today, above {rule.anomaly_factor.normalize()}x "
            f"its daily average (threshold {format_usd(threshold, 2)})"
        )
    elif incident.level == FORECAST:
        text = f"Forecast over budget: {who} is on course for {format_usd(value, 2)} against {format_usd(threshold, 2)} this {rule.period}"
    elif incident.level.startswith(WARN_PREFIX):
        percent = incident.level[len(WARN_PREFIX) :]
        text = f"{percent}% of budget: {who} spent {format_usd(value, 2)} of {format_usd(rule.amount or threshold, 2)} this {rule.period}"
    else:
        text = f"Budget reached: {who} spent {format_usd(value, 2)} of {format_usd(threshold, 2)} this {rule.period}"
    prefix = {"reminder": "Still firing: "}.get(event, "")
    if previous_level and event == DeliveryEvent.FIRING:
        prefix = f"Changed from {_level_name(previous_level)}: "
    return f"{prefix}{text} [{rule.name}]"


def request_link(project: Project, trace_id: str) -> str:
    return f"{settings.COSTWATCH_PUBLIC_URL.rstrip('/')}/p/{project.slug}/requests/{trace_id}/"


def _request_links(incident: Incident) -> dict[str, Any]:
    evidence = incident.evidence or {}
    return {
        **{k: v for k, v in evidence.items() if k != "worst"},
        "worst": [{**w, "link": request_link(incident.rule.project, w["trace_id"])} for w in evidence.get("worst", [])],
    }


def _request_budget_text(incident: Incident, rule: Rule) -> str:
    """Never one page per request: the day's count, the limit and the worst requests."""
    evidence = incident.evidence or {}
    metric = RequestMetric(rule.request_metric).label.lower() if rule.request_metric else "usage"
    limit = (
        format_usd(incident.threshold, 2)
        if rule.request_metric == RequestMetric.COST
        else f"{incident.threshold.normalize():,f}"
    )
    worst = ", ".join(f"{w['trace_id']} ({w['value']})" for w in evidence.get("worst", []))
    text = (
        f"Per-request budget: {incident.value.normalize():f} of {evidence.get('requests', '?')} requests of "
        f"{rule.scope} {incident.group_key} on {incident.period_key} used more than {limit} {metric}"
    )
    if evidence.get("unknown_cost_requests"):
        text += f"; {evidence['unknown_cost_requests']} requests have no known cost"
    return text + (f"; worst: {worst}" if worst else "")


def _level_name(level: str) -> str:
    if level.startswith(WARN_PREFIX):
        return f"{level[len(WARN_PREFIX) :]}% warning"
    return {
        BREACH: "budget reached",
        FORECAST: "forecast over budget",
        ANOMALY: "anomaly",
        DRIFT: "bill drift",
        REQUEST_BUDGET: "per-request budget",
    }.get(level, level)


def _resolution(incident: Incident, rule: Rule, who: str) -> str:
    """What a resolve says: why it ended, with the value it ended on; never the firing condition."""
    last = incident.events.filter(kind__in=[IncidentEventKind.RESOLVED, IncidentEventKind.SUPERSEDED]).last()
    reason = last.note if last is not None else "back to normal"
    if incident.level == REQUEST_BUDGET:
        return (
            f"the day {incident.period_key} ended for {rule.scope} {incident.group_key}: "
            f"{incident.value.normalize():f} requests went over the limit ({reason})"
        )
    if incident.level == DRIFT:
        provider, _, day = incident.group_key.partition(" ")
        return (
            f"{provider}'s bill for {day} (UTC) and Costwatch's estimate are within the threshold "
            f"(difference {format_usd(incident.value, 2)}; {reason})"
        )
    if incident.level == ANOMALY:
        return (
            f"{who} spend {format_usd(incident.value, 2)} today is no longer an anomaly "
            f"(threshold {format_usd(incident.threshold, 2)}; {reason})"
        )
    if reason == "period ended":
        return f"the {rule.period} {incident.period_key} ended for {who}"
    return (
        f"{who} is below the {_level_name(incident.level)} level: {format_usd(incident.value, 2)} "
        f"against {format_usd(incident.threshold, 2)} this {rule.period} ({reason})"
    )


def notification_payload(
    incident: Incident, event: str, now: datetime, previous_level: str | None = None
) -> dict[str, Any]:
    """The JSON every channel renders (and webhooks receive as is). ``previous_level`` is set when a
    firing notification announces a change of level (e.g. ``breach`` to ``warn:90``)."""
    rule = incident.rule
    project = rule.project
    dimension = scope_name(rule)
    who = f"project {project.slug}" if rule.scope == Scope.PROJECT else f"{dimension} {incident.group_key}"
    # A rule scoped by a custom dimension: the days of the period whose values past the dimension's
    # daily limit went to (other), which the rule does not check one by one.
    warnings = incident_warnings(incident)
    summary = _summary(incident, rule, event, who, previous_level)
    return {
        "event": event,
        "at": now.isoformat(),
        "project": project.slug,
        "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind},
        "scope": {"dimension": dimension, "value": rule.scope_value or None},
        "group": incident.group_key or None,
        "level": incident.level,
        "previous_level": previous_level,
        "severity": incident.severity,
        "value": decimal_json(incident.value),
        "threshold": decimal_json(incident.threshold),
        "currency": "USD",
        "period": {
            "kind": rule.period if rule.kind == RuleKind.BUDGET else "day",
            "key": incident.period_key,
            "start": incident.period_start.isoformat(),
            "end": incident.period_end.isoformat(),
            "timezone": project.timezone,
        },
        "incident": {
            "id": incident.pk,
            "state": incident.state,
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
        "summary": " ".join([summary, *warnings]),
        **({"requests": _request_links(incident)} if incident.level == REQUEST_BUDGET else {}),
        **({"warnings": warnings} if warnings else {}),
        "link": incident_link(incident.pk),
        "dedup_key": dedup_key(incident),
    }


def example_payload(channel: Channel, now: datetime) -> dict[str, Any]:
    """An example notification for exercising ``channel`` end to end (no incident behind it)."""
    project = channel.project
    return {
        "event": DeliveryEvent.TEST,
        "at": now.isoformat(),
        "project": project.slug,
        "rule": {"id": None, "name": "Test notification", "kind": "test"},
        "scope": {"dimension": "project", "value": None},
        "group": None,
        "level": "test",
        "severity": "warning",
        "value": "0",
        "threshold": "0",
        "currency": "USD",
        "period": {
            "kind": "day",
            "key": ProjectCalendar.of(project).date_of(now).isoformat(),
            "start": None,
            "end": None,
            "timezone": project.timezone,
        },
        "incident": None,
        "summary": f"Test notification from Costwatch for channel {channel.name!r} of project {project.slug}",
        "link": f"{settings.COSTWATCH_PUBLIC_URL.rstrip('/')}/alerts/",
        "dedup_key": f"costwatch-test-{channel.pk}",
    }
