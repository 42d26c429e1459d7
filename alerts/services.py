"""Alerting services: evaluate rules over rollups, move incidents, write and send deliveries.

Every transition is a conditional UPDATE inside ``transaction.atomic()`` that does nothing when the
incident is already in the target state, and writes one history row when it does change. A rule is
evaluated under ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent evaluations never share one, and
a delivery row is unique per (incident, channel, event, sequence): one transition, one notification.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from alerts.evaluation import (
    ANOMALY,
    BREACH,
    DRIFT,
    REQUEST_BUDGET,
    FORECAST,
    WARN_PREFIX,
    AnomalySpec,
    BudgetSpec,
    Decision,
    DriftSpec,
    baseline_days,
    baseline_of,
    evaluate_anomaly,
    evaluate_budget,
    evaluate_drift,
    level_rank,
    severity_of,
)
from alerts.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    DeliveryStatus,
    Incident,
    IncidentEvent,
    IncidentEventKind,
    IncidentState,
    RequestMetric,
    Rule,
    RuleKind,
    Scope,
)
from alerts.notifications import Notification
from alerts.scopes import ScopeError, dimension_pk, incident_warnings, is_custom, scope_name
from alerts.transports import TransportError, transport_for
from costwatch.billing.services import reconcile
from costwatch.money import decimal_json, format_usd
from costwatch.projects.calendar import UTC_CALENDAR, ProjectCalendar, Window
from costwatch.projects.models import Project
from costwatch.usage.dimensions import OTHER
from costwatch.usage.models import CustomDimension, RollupHour

log = logging.getLogger(__name__)

# A due delivery nobody claimed for this long is presumed lost with the broker and queued again.
REQUEUE_AFTER = timedelta(seconds=60)


class IncidentStateError(ValueError):
    """The incident is not in a state that allows this (e.g. acknowledging a resolved incident)."""


# --- Reading spend from rollups ----------------------------------------------------------------

def _rollups_of(rule: Rule):  # -> QuerySet[RollupHour]
    """The rule's hourly rollup rows: the project total, or one row per group of its scope, never the
    group of calls without a value ('') nor a custom dimension's (other) (many values summed)."""
    if rule.scope == Scope.PROJECT:
        return RollupHour.objects.filter(project_id=rule.project_id, dimension="total", key="")
    rows = RollupHour.objects.filter(project_id=rule.project_id, dimension=rule.scope).exclude(key="")
    if is_custom(rule.scope):
        rows = rows.exclude(key=OTHER)
    return rows.filter(key=rule.scope_value) if rule.scope_value else rows


def spend_by_group(rule: Rule, window: Window, keys: Iterable[str] | None = None) -> dict[str, Decimal]:
    """Spend per group key over the window's UTC hours ('' is the project-wide group)."""
    rows = _rollups_of(rule).filter(hour__gte=window.start, hour__lt=window.end)
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    return {r["key"]: r["spend"] for r in rows.values("key").annotate(spend=Sum("cost")).order_by()}


def daily_spend(rule: Rule, days: list[Window], keys: list[str], project: Project) -> dict[str, dict[date, Decimal]]:
    """Spend per key per local day over the given day windows, aggregated in the database."""
    ranges = Q()
    for w in days:
        ranges |= Q(hour__gte=w.start, hour__lt=w.end)
    rows = (_rollups_of(rule).filter(ranges, key__in=keys)
            .annotate(day=TruncDate("hour", tzinfo=project.tz)).values("key", "day")
            .annotate(spend=Sum("cost")).order_by())
    out: dict[str, dict[date, Decimal]] = {k: {} for k in keys}
    for r in rows:
        out[r["key"]][r["day"]] = r["spend"]
    return out


def first_spend_days(rule: Rule, keys: list[str], project: Project) -> dict[str, date | None]:
    """The local day of each group's first priced spend (one index probe per key)."""
    dimension = "total" if rule.scope == Scope.PROJECT else rule.scope
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT k, (SELECT min(hour) FROM {RollupHour._meta.db_table}
                           WHERE project_id = %s AND dimension = %s AND key = k AND cost > 0)
                FROM unnest(%s::text[]) AS k""",
            [project.pk, dimension, keys],
        )
        calendar = ProjectCalendar.of(project)
        return {k: (calendar.date_of(first) if first else None) for k, first in cursor.fetchall()}


# --- Deciding ------------------------------------------------------------------------------------

def budget_spec(rule: Rule) -> BudgetSpec:
    return BudgetSpec(rule.amount or Decimal(0), tuple(int(p) for p in rule.warn_percents or ()), rule.forecast)


def anomaly_spec(rule: Rule) -> AnomalySpec:
    return AnomalySpec(rule.anomaly_factor, rule.anomaly_days, rule.min_baseline, rule.min_spend, rule.same_weekday)


DRIFT_WINDOW_KEY = "bill-drift"


def drift_decisions(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    """A decision per provider-day (group ``"<provider> <UTC day>"``) of the last ``drift_days``
    complete UTC days that has a USD bill and a known estimate (costwatch.billing.reconcile)."""
    today = UTC_CALENDAR.date_of(now)
    first = today - timedelta(days=rule.drift_days)
    window = Window(DRIFT_WINDOW_KEY, UTC_CALENDAR.midnight(first), UTC_CALENDAR.midnight(today))
    spec = DriftSpec(rule.drift_percent, rule.drift_usd)
    providers = [rule.drift_provider] if rule.drift_provider else None
    decisions = {}
    for row in reconcile(rule.project, first, today - timedelta(days=1), providers=providers, now=now):
        if row.status == "ok":
            assert row.billed is not None and row.estimate.cost_usd is not None
            decisions[f"{row.provider} {row.day.isoformat()}"] = evaluate_drift(spec, row.billed, row.estimate.cost_usd)
    return window, decisions


def decide(rule: Rule, now: datetime) -> tuple[Window, dict[str, Decision]]:
    """The rule's current period and a decision for every group that has spend in it."""
    project = rule.project
    if rule.kind == RuleKind.DRIFT:
        return drift_decisions(rule, now)
    if rule.kind == RuleKind.REQUEST_BUDGET:
        from alerts.request_budget import request_budget_decisions

        return request_budget_decisions(rule, now)
    if rule.kind == RuleKind.BUDGET:
        window = ProjectCalendar.of(project).window(rule.period, now)
        if rule.amount is None or rule.amount <= 0:  # not a usable budget (the API refuses these)
            return window, {}
        spec = budget_spec(rule)
        elapsed = window.elapsed_fraction(now)
        return window, {k: evaluate_budget(spec, s, elapsed) for k, s in spend_by_group(rule, window).items()}
    spec = anomaly_spec(rule)
    calendar = ProjectCalendar.of(project)
    today = calendar.date_of(now)
    window = calendar.day(today)
    spend_today = spend_by_group(rule, window)
    # Only groups that could possibly alert get their history read: cheap with thousands of groups.
    candidates = sorted(k for k, s in spend_today.items() if s >= spec.min_spend and s > spec.factor * spec.min_baseline)
    if not candidates:
        return window, {}
    history = daily_spend(rule, [calendar.day(d) for d in baseline_days(spec, today)], candidates, project)
    firsts = first_spend_days(rule, candidates, project)
    decisions = {
        k: evaluate_anomaly(spec, spend_today[k], baseline_of(spec, today, history[k], firsts[k] or today))
        for k in candidates
    }
    return window, decisions


def _belongs_to_rule(incident: Incident, rule: Rule) -> bool:
    if rule.kind == RuleKind.ANOMALY:
        return incident.level == ANOMALY
    if rule.kind == RuleKind.DRIFT:
        return incident.level == DRIFT
    if rule.kind == RuleKind.REQUEST_BUDGET:
        return incident.level == REQUEST_BUDGET
    return incident.level in (BREACH, FORECAST) or incident.level.startswith(WARN_PREFIX)


# --- Evaluating ----------------------------------------------------------------------------------

@dataclass
class EvaluationResult:
    rules: int = 0
    skipped: int = 0
    opened: int = 0
    resolved: int = 0
    reminders: int = 0
    deliveries: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def evaluate_rules(now: datetime | None = None) -> EvaluationResult:
    """Evaluate every enabled rule (and resolve what disabled rules left firing), then send reminders.

    Idempotent: running it again, concurrently or after a crash creates no second delivery for the
    same transition. Deliveries are queued after their rule's transaction commits.
    """
    now = now or timezone.now()
    result = EvaluationResult()
    rule_ids = (Rule.objects.filter(Q(enabled=True) | Q(incidents__state=IncidentState.FIRING))
                .values_list("id", flat=True).distinct().order_by("id"))
    for rule_id in list(rule_ids):
        evaluate_rule(rule_id, now, result)
    result.requeued = requeue_lost_deliveries(now)
    return result


def evaluate_rule(rule_id: int, now: datetime, result: EvaluationResult | None = None) -> EvaluationResult:
    result = result if result is not None else EvaluationResult()
    with transaction.atomic():
        rule = (Rule.objects.select_for_update(skip_locked=True, of=("self",)).select_related("project")
                .filter(pk=rule_id).first())
        if rule is None:  # another evaluation holds it (or it was deleted): nothing to do here
            result.skipped += 1
            return result
        result.rules += 1
        firing = list(Incident.objects.filter(rule=rule, state=IncidentState.FIRING).order_by("id"))
        if not rule.enabled:
            for incident in firing:
                _resolve(incident, now, "rule disabled", result)
            return result
        window, decisions = decide(rule, now)
        current: dict[str, Incident] = {}
        for incident in sorted(firing, key=lambda i: level_rank(i.level)):
            if incident.period_key != window.key:
                _resolve(incident, now, "period ended", result)
            elif not _belongs_to_rule(incident, rule):
                _resolve(incident, now, "rule changed", result)
            else:
                lower = current.get(incident.group_key)
                if lower is not None:
                    _resolve(lower, now, f"superseded by {incident.level}", result, notify=False)
                current[incident.group_key] = incident
        for group, decision in decisions.items():
            incident = current.pop(group, None)
            if decision.level is None:
                if incident is not None:
                    _resolve(incident, now, "back to normal", result, value=decision.value)
            elif incident is None:
                _fire(rule, group, window, decision, now, result)
            elif decision.level != incident.level:
                # The level that holds now replaces the old one, up (warn:90 -> breach) or down (a
                # raised budget: breach -> warn:90), with one notification of the change.
                _resolve(incident, now, f"moved to {decision.level}", result, notify=False)
                _fire(rule, group, window, decision, now, result, previous_level=incident.level)
            elif (incident.value != decision.value or incident.threshold != decision.threshold
                  or (decision.evidence is not None and incident.evidence != decision.evidence)):
                Incident.objects.filter(pk=incident.pk, state=IncidentState.FIRING).update(
                    value=decision.value, threshold=decision.threshold,
                    evidence=dict(decision.evidence) if decision.evidence is not None else incident.evidence)
        for incident in current.values():
            _resolve(incident, now, "back to normal", result)
        _end_silences(rule, now)
        _remind(rule, now, result)
    return result


def _event(incident: Incident, kind: str, now: datetime, *, actor: AbstractBaseUser | None = None,
           value: Decimal | None = None, note: str = "") -> None:
    IncidentEvent.objects.create(incident=incident, kind=kind, at=now, actor=actor, value=value, note=note[:500])


def _fire(rule: Rule, group: str, window: Window, decision: Decision, now: datetime, result: EvaluationResult,
          *, previous_level: str | None = None) -> None:
    assert decision.level is not None and decision.threshold is not None
    incident, created = Incident.objects.get_or_create(
        rule=rule, group_key=group, period_key=window.key, level=decision.level,
        defaults={
            "project_id": rule.project_id, "period_start": window.start, "period_end": window.end,
            "severity": severity_of(decision.level), "value": decision.value, "threshold": decision.threshold,
            "opened_at": now, "last_notified_at": now, "evidence": dict(decision.evidence or {}),
        },
    )
    note = f"{decision.detail} (was {previous_level})" if previous_level else decision.detail
    if created:
        _event(incident, IncidentEventKind.OPENED, now, value=decision.value, note=note)
    else:
        reopened = Incident.objects.filter(pk=incident.pk, state=IncidentState.RESOLVED).update(
            state=IncidentState.FIRING, episode=F("episode") + 1, resolved_at=None, value=decision.value,
            evidence=dict(decision.evidence or {}),
            threshold=decision.threshold, acknowledged_at=None, acknowledged_by=None, last_notified_at=now,
        )
        if not reopened:
            return
        incident.refresh_from_db()
        _event(incident, IncidentEventKind.REOPENED, now, value=decision.value, note=note)
    result.opened += 1
    result.deliveries += create_deliveries(incident, DeliveryEvent.FIRING, incident.episode, now,
                                           previous_level=previous_level)


def _resolve(incident: Incident, now: datetime, note: str, result: EvaluationResult, *, notify: bool = True,
             value: Decimal | None = None) -> None:
    changes: dict[str, Any] = {"state": IncidentState.RESOLVED, "resolved_at": now}
    if value is not None:
        changes["value"] = value
    if not Incident.objects.filter(pk=incident.pk, state=IncidentState.FIRING).update(**changes):
        return
    incident.refresh_from_db()
    kind = IncidentEventKind.RESOLVED if notify else IncidentEventKind.SUPERSEDED
    _event(incident, kind, now, value=incident.value, note=note)
    result.resolved += 1
    if notify:
        result.deliveries += create_deliveries(incident, DeliveryEvent.RESOLVED, incident.episode, now)


def _end_silences(rule: Rule, now: datetime) -> None:
    for incident in Incident.objects.filter(rule=rule, silenced_until__lte=now):
        if Incident.objects.filter(pk=incident.pk, silenced_until=incident.silenced_until).update(
                silenced_until=None, silence_reason=""):
            _event(incident, IncidentEventKind.UNSILENCED, now, note="silence ended")


def _remind(rule: Rule, now: datetime, result: EvaluationResult) -> None:
    due = (Incident.objects.filter(rule=rule, state=IncidentState.FIRING, acknowledged_at__isnull=True,
                                   last_notified_at__lte=now - rule.repeat_interval)
           .exclude(silenced_until__gt=now))
    for incident in due:
        number = incident.reminders_sent + 1
        claimed = Incident.objects.filter(pk=incident.pk, state=IncidentState.FIRING,
                                          reminders_sent=incident.reminders_sent).update(
            reminders_sent=number, last_notified_at=now)
        if not claimed:
            continue
        incident.reminders_sent, incident.last_notified_at = number, now
        _event(incident, IncidentEventKind.REMINDED, now, value=incident.value, note=f"reminder {number}")
        result.reminders += 1
        result.deliveries += create_deliveries(incident, DeliveryEvent.REMINDER, number, now)


# --- People working incidents ----------------------------------------------------------------------

def acknowledge(incident: Incident, user: AbstractBaseUser, now: datetime | None = None) -> bool:
    """Acknowledge a firing incident (stops reminders). False when it already was acknowledged."""
    now = now or timezone.now()
    with transaction.atomic():
        if Incident.objects.filter(pk=incident.pk, state=IncidentState.RESOLVED).exists():
            raise IncidentStateError("a resolved incident cannot be acknowledged")
        changed = Incident.objects.filter(pk=incident.pk, state=IncidentState.FIRING,
                                          acknowledged_at__isnull=True).update(acknowledged_at=now, acknowledged_by=user)
        if changed:
            _event(incident, IncidentEventKind.ACKNOWLEDGED, now, actor=user)
    incident.refresh_from_db()
    return bool(changed)


def silence(incident: Incident, user: AbstractBaseUser, until: datetime, reason: str,
            now: datetime | None = None) -> bool:
    """Silence reminders until ``until``. False when the same silence was already in place."""
    now = now or timezone.now()
    if until <= now:
        raise IncidentStateError("a silence must end in the future")
    reason = reason.strip()
    if not reason:
        raise IncidentStateError("a silence needs a reason")
    with transaction.atomic():
        changed = (Incident.objects.filter(pk=incident.pk)
                   .exclude(silenced_until=until, silence_reason=reason[:500])
                   .update(silenced_until=until, silence_reason=reason[:500]))
        if changed:
            _event(incident, IncidentEventKind.SILENCED, now, actor=user, note=f"until {until.isoformat()}: {reason}")
    incident.refresh_from_db()
    return bool(changed)


def unsilence(incident: Incident, user: AbstractBaseUser, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    with transaction.atomic():
        changed = Incident.objects.filter(pk=incident.pk, silenced_until__isnull=False).update(
            silenced_until=None, silence_reason="")
        if changed:
            _event(incident, IncidentEventKind.UNSILENCED, now, actor=user, note="silence lifted")
    incident.refresh_from_db()
    return bool(changed)


# --- Notifications and deliveries -----------------------------------------------------------------

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
        text = (f"Bill drift: {provider}'s bill for {day} (UTC) and Costwatch's estimate differ by "
                f"{format_usd(value, 2)} (threshold {format_usd(threshold, 2)})")
    elif incident.level == ANOMALY:
        text = (f"Spend anomaly: {who} spent {format_usd(value, 2)} today, above {rule.anomaly_factor.normalize()}x "
                f"its daily average (threshold {format_usd(threshold, 2)})")
    elif incident.level == FORECAST:
        text = f"Forecast over budget: {who} is on course for {format_usd(value, 2)} against {format_usd(threshold, 2)} this {rule.period}"
    elif incident.level.startswith(WARN_PREFIX):
        percent = incident.level[len(WARN_PREFIX):]
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
    return {**{k: v for k, v in evidence.items() if k != "worst"},
            "worst": [{**w, "link": request_link(incident.rule.project, w["trace_id"])}
                      for w in evidence.get("worst", [])]}


def _request_budget_text(incident: Incident, rule: Rule) -> str:
    """Never one page per request: the day's count, the limit and the worst requests."""
    evidence = incident.evidence or {}
    metric = RequestMetric(rule.request_metric).label.lower() if rule.request_metric else "usage"
    limit = (format_usd(incident.threshold, 2) if rule.request_metric == RequestMetric.COST
             else f"{incident.threshold.normalize():,f}")
    worst = ", ".join(f"{w['trace_id']} ({w['value']})" for w in evidence.get("worst", []))
    text = (f"Per-request budget: {incident.value.normalize():f} of {evidence.get('requests', '?')} requests of "
            f"{rule.scope} {incident.group_key} on {incident.period_key} used more than {limit} {metric}")
    if evidence.get("unknown_cost_requests"):
        text += f"; {evidence['unknown_cost_requests']} requests have no known cost"
    return text + (f"; worst: {worst}" if worst else "")


def _level_name(level: str) -> str:
    if level.startswith(WARN_PREFIX):
        return f"{level[len(WARN_PREFIX):]}% warning"
    return {BREACH: "budget reached", FORECAST: "forecast over budget", ANOMALY: "anomaly",
            DRIFT: "bill drift", REQUEST_BUDGET: "per-request budget"}.get(level, level)


def _resolution(incident: Incident, rule: Rule, who: str) -> str:
    """What a resolve says: why it ended, with the value it ended on; never the firing condition."""
    last = incident.events.filter(kind__in=[IncidentEventKind.RESOLVED, IncidentEventKind.SUPERSEDED]).last()
    reason = last.note if last is not None else "back to normal"
    if incident.level == REQUEST_BUDGET:
        return (f"the day {incident.period_key} ended for {rule.scope} {incident.group_key}: "
                f"{incident.value.normalize():f} requests went over the limit ({reason})")
    if incident.level == DRIFT:
        provider, _, day = incident.group_key.partition(" ")
        return (f"{provider}'s bill for {day} (UTC) and Costwatch's estimate are within the threshold "
                f"(difference {format_usd(incident.value, 2)}; {reason})")
    if incident.level == ANOMALY:
        return (f"{who} spend {format_usd(incident.value, 2)} today is no longer an anomaly "
                f"(threshold {format_usd(incident.threshold, 2)}; {reason})")
    if reason == "period ended":
        return f"the {rule.period} {incident.period_key} ended for {who}"
    return (f"{who} is below the {_level_name(incident.level)} level: {format_usd(incident.value, 2)} "
            f"against {format_usd(incident.threshold, 2)} this {rule.period} ({reason})")


def notification_payload(incident: Incident, event: str, now: datetime,
                         previous_level: str | None = None) -> dict[str, Any]:
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
            "id": incident.pk, "state": incident.state, "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
        "summary": " ".join([summary, *warnings]),
        **({"requests": _request_links(incident)} if incident.level == REQUEST_BUDGET else {}),
        **({"warnings": warnings} if warnings else {}),
        "link": incident_link(incident.pk),
        "dedup_key": dedup_key(incident),
    }


def create_deliveries(incident: Incident, event: str, sequence: int, now: datetime,
                      previous_level: str | None = None) -> list[int]:
    """One pending delivery per enabled channel of the rule, queued once the transaction commits."""
    payload = notification_payload(incident, event, now, previous_level)
    created: list[int] = []
    for channel in incident.rule.channels.filter(enabled=True).order_by("id"):
        delivery, is_new = Delivery.objects.get_or_create(
            incident=incident, channel=channel, event=event, sequence=sequence,
            defaults={"project_id": incident.project_id, "payload": payload, "next_attempt_at": now, "created_at": now},
        )
        if is_new:
            created.append(delivery.pk)
    queue_deliveries(created)
    return created


def send_test_notification(channel: Channel, now: datetime | None = None) -> Delivery:
    """A delivery that exercises the channel end to end, with an example payload."""
    now = now or timezone.now()
    project = channel.project
    payload = {
        "event": DeliveryEvent.TEST, "at": now.isoformat(), "project": project.slug,
        "rule": {"id": None, "name": "Test notification", "kind": "test"},
        "scope": {"dimension": "project", "value": None}, "group": None, "level": "test", "severity": "warning",
        "value": "0", "threshold": "0", "currency": "USD",
        "period": {"kind": "day", "key": ProjectCalendar.of(project).date_of(now).isoformat(), "start": None, "end": None,
                   "timezone": project.timezone},
        "incident": None,
        "summary": f"Test notification from Costwatch for channel {channel.name!r} of project {project.slug}",
        "link": f"{settings.COSTWATCH_PUBLIC_URL.rstrip('/')}/alerts/",
        "dedup_key": f"costwatch-test-{channel.pk}",
    }
    with transaction.atomic():
        delivery = Delivery.objects.create(project=project, channel=channel, event=DeliveryEvent.TEST, payload=payload,
                                           next_attempt_at=now, created_at=now)
        queue_deliveries([delivery.pk])
    return delivery


def queue_deliveries(ids: list[int]) -> None:
    """Put delivery ids on the queue after commit (a rolled-back transition sends nothing)."""
    if not ids:
        return
    from alerts.tasks import deliver  # tasks import services

    def enqueue() -> None:
        for delivery_id in ids:
            try:
                deliver.delay(delivery_id)
            except Exception:  # noqa: BLE001 - a broker outage must not undo a committed transition
                log.warning("could not queue delivery %s; the next evaluation queues it again", delivery_id,
                            exc_info=True)

    transaction.on_commit(enqueue)


def requeue_lost_deliveries(now: datetime) -> list[int]:
    ids = list(Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now - REQUEUE_AFTER)
               .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
               .order_by("next_attempt_at").values_list("id", flat=True)[:1000])
    with transaction.atomic():
        queue_deliveries(ids)
    return ids


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures: exponential, capped."""
    base = settings.COSTWATCH_DELIVERY_BACKOFF_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), settings.COSTWATCH_DELIVERY_BACKOFF_MAX_SECONDS))


@dataclass(frozen=True)
class AttemptOutcome:
    attempted: bool
    status: str | None = None
    retry_at: datetime | None = None


def attempt_delivery(delivery_id: int, now: datetime | None = None) -> AttemptOutcome:
    """Claim a due delivery, send it once, log the attempt, and schedule or give up on failure.

    A delivery that is gone, already sent or failed, not yet due or claimed by another worker is left
    alone (returns ``attempted=False``).
    """
    now = now or timezone.now()
    lease = timedelta(seconds=max(settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS, settings.EMAIL_TIMEOUT or 0) * 3 + 30)
    claimed = (Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
               .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
               .update(claimed_until=now + lease))
    if not claimed:
        return AttemptOutcome(False)
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    channel = delivery.channel
    started = time.monotonic()
    ok, permanent, status_code, detail = False, False, None, ""
    if not channel.enabled:
        permanent, detail = True, "channel is disabled"
    else:
        try:
            sent = transport_for(channel.kind).send(channel, Notification(delivery.payload), delivery_id=delivery.pk)
            ok, status_code, detail = True, sent.status_code, sent.detail
        except TransportError as exc:
            permanent, status_code, detail = exc.permanent, exc.status_code, str(exc)
        except Exception as exc:  # noqa: BLE001 - a transport bug is logged on the row and retried (capped)
            log.exception("delivery %s: unexpected transport error", delivery_id)
            detail = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    number = delivery.attempts + 1
    changes: dict[str, Any] = {"attempts": number, "claimed_until": None}
    retry_at = None
    if ok:
        changes.update(status=DeliveryStatus.SENT, sent_at=now, last_error="")
    elif permanent or number >= settings.COSTWATCH_DELIVERY_MAX_ATTEMPTS:
        changes.update(status=DeliveryStatus.FAILED, last_error=detail)
    else:
        retry_at = now + backoff(number)
        changes.update(next_attempt_at=retry_at, last_error=detail)
    with transaction.atomic():
        DeliveryAttempt.objects.create(delivery=delivery, number=number, at=now, duration_ms=duration_ms, ok=ok,
                                       permanent=permanent, status_code=status_code, detail=detail[:2000])
        Delivery.objects.filter(pk=delivery.pk).update(**changes)
    if not ok:
        log.warning("delivery %s to %s %r failed (attempt %s): %s", delivery.pk, channel.kind, channel.name,
                    number, detail)
    return AttemptOutcome(True, changes.get("status", DeliveryStatus.PENDING), retry_at)


# --- Budget status for apps ------------------------------------------------------------------------

@dataclass(frozen=True)
class BudgetStatus:
    rule: Rule
    group: str
    window: Window
    spend: Decimal
    limit: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.limit - self.spend, Decimal(0))

    @property
    def exceeded(self) -> bool:
        return self.spend >= self.limit


def budget_status(project: Project, groups: Mapping[str, str], now: datetime | None = None) -> list[BudgetStatus]:
    """Every enabled budget rule that applies to these groups (e.g. {"user": "alice"}) and the project."""
    now = now or timezone.now()
    applies = Q(scope=Scope.PROJECT)
    for dimension, value in groups.items():
        applies |= Q(scope=dimension, scope_value="") | Q(scope=dimension, scope_value=value)
    rules = (Rule.objects.filter(project=project, kind=RuleKind.BUDGET, enabled=True, amount__isnull=False)
             .filter(applies).select_related("project").order_by("name", "id"))
    out = []
    for rule in rules:
        group = "" if rule.scope == Scope.PROJECT else groups[rule.scope]
        window = ProjectCalendar.of(project).window(rule.period, now)
        spend = spend_by_group(rule, window, keys=[group]).get(group, Decimal(0))
        out.append(BudgetStatus(rule, group, window, spend, rule.amount))
    return out


# --- Rules and channels ---------------------------------------------------------------------------

def save_rule(project: Project, fields: Mapping[str, Any], channels: list[Channel] | None,
              rule: Rule | None = None) -> Rule:
    """Create or update a rule; ``channels`` None leaves them as they are.

    A rule scoped by a custom dimension holds the dimension's row locked until it commits, so a
    concurrent ``delete_dimension`` either sees the rule (and refuses) or has deleted the
    dimension first (and this raises ``ScopeError``).
    """
    with transaction.atomic():
        rule = rule or Rule(project=project)
        for name, value in fields.items():
            setattr(rule, name, value)
        if is_custom(rule.scope) and not CustomDimension.objects.select_for_update().filter(
                project=project, pk=dimension_pk(rule.scope)).exists():
            raise ScopeError(f"the custom dimension of scope {rule.scope} no longer exists in project {project.slug}")
        rule.save()
        if channels is not None:
            if any(c.project_id != project.pk for c in channels):
                raise ValueError("channels must belong to the rule's project")
            rule.channels.set(channels)
        # An edited rule holds at once: a raised budget moves its incident now, not next cycle.
        rule_id = rule.pk
        transaction.on_commit(lambda: evaluate_rule(rule_id, timezone.now()))
    return rule


def save_channel(project: Project, fields: Mapping[str, Any], channel: Channel | None = None) -> Channel:
    channel = channel or Channel(project=project)
    for name, value in fields.items():
        setattr(channel, name, value)
    channel.save()
    return channel
