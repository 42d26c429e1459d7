"""Incidents: the state machine that moves them to match what each rule decides, and the people
working them (acknowledge, silence).

An incident is one (rule, group, period, level): ``firing`` -> ``resolved``, reopened in place when
it fires again in the same period. Every transition is a conditional UPDATE inside
``transaction.atomic()`` that does nothing when the incident is already in the target state, and
writes one history row (``IncidentEvent``) when it does change. A rule is evaluated under
``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent evaluations never share one; a transition that
notifies writes its delivery rows in the same transaction (``alerts.deliveries``), and once rows
were written a sweep is requested: one transition, one notification, sent at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.decisions import decide
from alerts.deliveries import create_deliveries, request_sweep
from alerts.evaluation import (
    ANOMALY,
    BREACH,
    DRIFT,
    FORECAST,
    REQUEST_BUDGET,
    WARN_PREFIX,
    Decision,
    level_rank,
    severity_of,
)
from alerts.models import (
    DeliveryEvent,
    Incident,
    IncidentEvent,
    IncidentEventKind,
    IncidentState,
    Rule,
    RuleKind,
)
from costwatch.projects.calendar import Window


class IncidentStateError(ValueError):
    """The incident is not in a state that allows this (e.g. acknowledging a resolved incident)."""


def _belongs_to_rule(incident: Incident, rule: Rule) -> bool:
    if rule.kind == RuleKind.ANOMALY:
        return incident.level == ANOMALY
    if rule.kind == RuleKind.DRIFT:
        return incident.level == DRIFT
    if rule.kind == RuleKind.REQUEST_BUDGET:
        return incident.level == REQUEST_BUDGET
    return incident.level in (BREACH, FORECAST) or incident.level.startswith(WARN_PREFIX)


@dataclass
class EvaluationResult:
    """What one evaluation did: rules evaluated (and skipped: held by another evaluation or gone),
    incidents opened (or reopened), resolved and reminded, and the delivery rows it wrote."""

    rules: int = 0
    skipped: int = 0
    opened: int = 0
    resolved: int = 0
    reminders: int = 0
    deliveries: list[int] = field(default_factory=list)


def evaluate_rules(now: datetime | None = None, project_ids: Iterable[int] | None = None) -> EvaluationResult:
    """Evaluate every enabled rule (and resolve what disabled rules left firing), end silences that
    are over and send reminders that are due; ``project_ids``: only those projects' rules (after a
    rollup run changed their spend), None: every project's (the periodic run, which also notices
    periods ending and silences expiring).

    Idempotent: running it again, concurrently or after a crash creates no second delivery for the
    same transition. When it wrote deliveries, a sweep is requested once their rules committed.
    """
    now = now or timezone.now()
    result = EvaluationResult()
    rules = Rule.objects.filter(Q(enabled=True) | Q(incidents__state=IncidentState.FIRING))
    if project_ids is not None:
        rules = rules.filter(project_id__in=list(project_ids))
    for rule_id in list(rules.values_list("id", flat=True).distinct().order_by("id")):
        _evaluate_rule(rule_id, now, result)
    if result.deliveries:
        request_sweep()
    return result


def evaluate_rule(rule_id: int, now: datetime) -> EvaluationResult:
    """Evaluate one rule now (``evaluate_rules`` for one rule): an edited rule holds at once."""
    result = EvaluationResult()
    _evaluate_rule(rule_id, now, result)
    if result.deliveries:
        request_sweep()
    return result


def _evaluate_rule(rule_id: int, now: datetime, result: EvaluationResult) -> None:
    with transaction.atomic():
        rule = (
            Rule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("project")
            .filter(pk=rule_id)
            .first()
        )
        if rule is None:  # another evaluation holds it (or it was deleted): nothing to do here
            result.skipped += 1
            return
        result.rules += 1
        firing = list(Incident.objects.filter(rule=rule, state=IncidentState.FIRING).order_by("id"))
        if not rule.enabled:
            for incident in firing:
                _resolve(incident, now, "rule disabled", result)
            return
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
            held = current.pop(group, None)
            if decision.level is None:
                if held is not None:
                    _resolve(held, now, "back to normal", result, value=decision.value)
            elif held is None:
                _fire(rule, group, window, decision, now, result)
            elif decision.level != held.level:
                # The level that holds now replaces the old one, up (warn:90 -> breach) or down (a
                # raised budget: breach -> warn:90), with one notification of the change.
                _resolve(held, now, f"moved to {decision.level}", result, notify=False)
                _fire(rule, group, window, decision, now, result, previous_level=held.level)
            elif (
                held.value != decision.value
                or held.threshold != decision.threshold
                or (decision.evidence is not None and held.evidence != decision.evidence)
            ):
                Incident.objects.filter(pk=held.pk, state=IncidentState.FIRING).update(
                    value=decision.value,
                    threshold=decision.threshold,
                    evidence=dict(decision.evidence) if decision.evidence is not None else held.evidence,
                )
        for incident in current.values():
            _resolve(incident, now, "back to normal", result)
        _end_silences(rule, now)
        _remind(rule, now, result)


def _event(
    incident: Incident,
    kind: str,
    now: datetime,
    *,
    actor: User | None = None,
    value: Decimal | None = None,
    note: str = "",
) -> None:
    IncidentEvent.objects.create(incident=incident, kind=kind, at=now, actor=actor, value=value, note=note[:500])


def _fire(
    rule: Rule,
    group: str,
    window: Window,
    decision: Decision,
    now: datetime,
    result: EvaluationResult,
    *,
    previous_level: str | None = None,
) -> None:
    assert decision.level is not None and decision.threshold is not None
    incident, created = Incident.objects.get_or_create(
        rule=rule,
        group_key=group,
        period_key=window.key,
        level=decision.level,
        defaults={
            "project_id": rule.project_id,
            "period_start": window.start,
            "period_end": window.end,
            "severity": severity_of(decision.level),
            "value": decision.value,
            "threshold": decision.threshold,
            "opened_at": now,
            "last_notified_at": now,
            "evidence": dict(decision.evidence or {}),
        },
    )
    note = f"{decision.detail} (was {previous_level})" if previous_level else decision.detail
    if created:
        _event(incident, IncidentEventKind.OPENED, now, value=decision.value, note=note)
    else:
        reopened = Incident.objects.filter(pk=incident.pk, state=IncidentState.RESOLVED).update(
            state=IncidentState.FIRING,
            episode=F("episode") + 1,
            resolved_at=None,
            value=decision.value,
            evidence=dict(decision.evidence or {}),
            threshold=decision.threshold,
            acknowledged_at=None,
            acknowledged_by=None,
            last_notified_at=now,
        )
        if not reopened:
            return
        incident.refresh_from_db()
        _event(incident, IncidentEventKind.REOPENED, now, value=decision.value, note=note)
    result.opened += 1
    result.deliveries += create_deliveries(
        incident, DeliveryEvent.FIRING, incident.episode, now, previous_level=previous_level
    )


def _resolve(
    incident: Incident,
    now: datetime,
    note: str,
    result: EvaluationResult,
    *,
    notify: bool = True,
    value: Decimal | None = None,
) -> None:
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
            silenced_until=None, silence_reason=""
        ):
            _event(incident, IncidentEventKind.UNSILENCED, now, note="silence ended")


def _remind(rule: Rule, now: datetime, result: EvaluationResult) -> None:
    due = Incident.objects.filter(
        rule=rule,
        state=IncidentState.FIRING,
        acknowledged_at__isnull=True,
        last_notified_at__lte=now - rule.repeat_interval,
    ).exclude(silenced_until__gt=now)
    for incident in due:
        number = incident.reminders_sent + 1
        claimed = Incident.objects.filter(
            pk=incident.pk, state=IncidentState.FIRING, reminders_sent=incident.reminders_sent
        ).update(reminders_sent=number, last_notified_at=now)
        if not claimed:
            continue
        incident.reminders_sent, incident.last_notified_at = number, now
        _event(incident, IncidentEventKind.REMINDED, now, value=incident.value, note=f"reminder {number}")
        result.reminders += 1
        result.deliveries += create_deliveries(incident, DeliveryEvent.REMINDER, number, now)


# --- People working incidents ----------------------------------------------------------------------


def acknowledge(incident: Incident, user: User, now: datetime | None = None) -> bool:
    """Acknowledge a firing incident (stops reminders). False when it already was acknowledged."""
    now = now or timezone.now()
    with transaction.atomic():
        if Incident.objects.filter(pk=incident.pk, state=IncidentState.RESOLVED).exists():
            raise IncidentStateError("a resolved incident cannot be acknowledged")
        changed = Incident.objects.filter(
            pk=incident.pk, state=IncidentState.FIRING, acknowledged_at__isnull=True
        ).update(acknowledged_at=now, acknowledged_by=user)
        if changed:
            _event(incident, IncidentEventKind.ACKNOWLEDGED, now, actor=user)
    incident.refresh_from_db()
    return bool(changed)


def silence(incident: Incident, user: User, until: datetime, reason: str, now: datetime | None = None) -> bool:
    """Silence reminders until ``until``. False when the same silence was already in place."""
    now = now or timezone.now()
    if until <= now:
        raise IncidentStateError("a silence must end in the future")
    reason = reason.strip()
    if not reason:
        raise IncidentStateError("a silence needs a reason")
    with transaction.atomic():
        changed = (
            Incident.objects.filter(pk=incident.pk)
            .exclude(silenced_until=until, silence_reason=reason[:500])
            .update(silenced_until=until, silence_reason=reason[:500])
        )
        if changed:
            _event(incident, IncidentEventKind.SILENCED, now, actor=user, note=f"until {until.isoformat()}: {reason}")
    incident.refresh_from_db()
    return bool(changed)


def unsilence(incident: Incident, user: User, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    with transaction.atomic():
        changed = Incident.objects.filter(pk=incident.pk, silenced_until__isnull=False).update(
            silenced_until=None, silence_reason=""
        )
        if changed:
            _event(incident, IncidentEventKind.UNSILENCED, now, actor=user, note="silence lifted")
    incident.refresh_from_db()
    return bool(changed)
