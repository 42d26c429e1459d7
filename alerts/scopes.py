"""What an alert rule is scoped by: the whole project, a built-in group (user, feature, endpoint,
model) or one of the project's custom dimensions (``costwatch.usage.dimensions``).

The one owner of that vocabulary: the API, the rule form, evaluation and notifications all ask here.

* **Stored** in ``Rule.scope`` as the built-in name, or as the dimension's ``rollup_dimension``
  (``dim:<id>``, the ``dimension`` of its rollup rows), so renaming a dimension keeps its rules.
* **Shown, accepted and sent** as the dimension's *name* (``"scope": "tenant"``, "tenant acme").
* **What is evaluated.** A rule reads the spend of its ``spend_groups`` (``costwatch.usage.spend``):
  the project total, or its scope's values; a rule scoped by a dimension, that dimension's. With a
  blank ``scope_value`` it checks each value separately, and never the two groups that are not one value:
  ``''`` (calls without a value, "(not set)") and ``(other)`` (the values past the dimension's daily
  limit, many tenants summed, which a per-tenant budget must not treat as one tenant). On days
  when the limit was reached, the rule and its notifications say so (``overflow_warnings``): the
  spend grouped under ``(other)`` is not checked value by value.
* Per-request budgets (``alerts.decisions``) stay on the feature and endpoint of a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from alerts.models import Incident, Rule, RuleKind, Scope
from costwatch.projects.calendar import ProjectCalendar
from costwatch.projects.models import Project
from costwatch.usage.dimensions import (
    OTHER,
    dimension_named,
    dimensions_of,
    overflows_of,
)
from costwatch.usage.models import CustomDimension, DimensionValue
from costwatch.usage.spend import TOTAL, Groups

CUSTOM_PREFIX = "dim:"
BUILT_IN = tuple(Scope.values)
SCOPE_HELP = (
    "What the rule watches: project (the whole project), user, feature, endpoint or model (each one, "
    "or only scope_value), or the name of one of the project's custom dimensions (GET /api/v1/dimensions, "
    "e.g. tenant): each value of it, or only scope_value. Per-value rules never check the calls without "
    "a value, nor a dimension's (other) group (the values past its daily limit). Per-request budgets: "
    "feature or endpoint only; drift rules: project only."
)


class ScopeError(ValueError):
    """A scope (or scope value) a rule of this project cannot have; the message says why."""


def is_custom(scope: str) -> bool:
    """True for a stored scope that is a custom dimension (``dim:<id>``)."""
    return scope.startswith(CUSTOM_PREFIX)


def spend_groups(rule: Rule) -> Groups:
    """The groups whose spend the rule reads: the project total, or each value of its scope (only
    ``scope_value`` when set). Per-value reads skip '' and a dimension's (other) (``costwatch.usage.spend``)."""
    if rule.scope == Scope.PROJECT:
        return Groups(TOTAL)
    return Groups(rule.scope, rule.scope_value)


def dimension_of(rule: Rule) -> CustomDimension | None:
    """The custom dimension a rule is scoped by (None for the project and built-in scopes)."""
    return _dimension(rule.project_id, rule.scope)


def dimension_pk(scope: str) -> int | None:
    """The id of the custom dimension in a stored scope (``dim:3`` -> 3), else None."""
    pk = scope[len(CUSTOM_PREFIX) :] if is_custom(scope) else ""
    return int(pk) if pk.isdigit() else None


def _dimension(project_id: int, scope: str) -> CustomDimension | None:
    pk = dimension_pk(scope)
    return CustomDimension.objects.filter(project_id=project_id, pk=pk).first() if pk is not None else None


def scope_names(project: Project) -> dict[str, str]:
    """Stored scope -> name for every custom dimension of the project ({"dim:3": "tenant"})."""
    return {d.rollup_dimension: d.name for d in dimensions_of(project)}


def scope_name(rule: Rule, names: Mapping[str, str] | None = None) -> str:
    """The scope as people and the API call it: ``user``, ``tenant``, ...

    ``names``: ``scope_names(project)`` when naming many rules (saves a query each). A rule whose
    dimension is gone (deleting one is refused while rules use it) reads "deleted dimension dim:3".
    """
    return _name(rule.project_id, rule.scope, names)


def _name(project_id: int, scope: str, names: Mapping[str, str] | None = None) -> str:
    if not is_custom(scope):
        return scope
    if names is not None and scope in names:
        return names[scope]
    dimension = _dimension(project_id, scope)
    return dimension.name if dimension is not None else f"deleted dimension {scope}"


def scope_label(rule: Rule, names: Mapping[str, str] | None = None) -> str:
    """ "The whole project", "Each user", "Each tenant (custom dimension)" (without the scope value)."""
    if is_custom(rule.scope):
        return f"Each {scope_name(rule, names)} (custom dimension)"
    return Scope(rule.scope).label if rule.scope in BUILT_IN else rule.scope


def scope_choices(project: Project) -> list[tuple[str, str]]:
    """(value the API accepts, label) for a rule of this project: built-in scopes, then its dimensions."""
    return [*Scope.choices, *((d.name, f"Each {d.name} (custom dimension)") for d in dimensions_of(project))]


def parse_scope(project: Project, text: str) -> str:
    """The stored scope for what the API and the rule form accept: a built-in scope, or the name of
    one of the project's custom dimensions. Raises ``ScopeError`` for anything else."""
    text = (text or "").strip()
    if text in BUILT_IN:
        return text
    dimension = dimension_named(project, text)
    if dimension is not None:
        return dimension.rollup_dimension
    names = [d.name for d in dimensions_of(project)]
    own = (
        f"or one of its custom dimensions ({', '.join(names)})"
        if names
        else "or a custom dimension (it has none yet; add one with POST /api/v1/dimensions)"
    )
    raise ScopeError(f"{text!r} is not a scope of project {project.slug}: use {', '.join(BUILT_IN)} {own}")


def check_scope(project: Project, *, kind: str, scope: str, scope_value: str) -> None:
    """What a rule of ``kind`` may be scoped by, given the stored ``scope`` (see ``parse_scope``).
    Raises ``ScopeError`` naming the problem."""
    if not is_custom(scope):
        return
    name = _name(project.pk, scope)
    if kind == RuleKind.REQUEST_BUDGET:
        raise ScopeError(
            f"a per-request budget applies to each request of a feature or endpoint; custom "
            f"dimensions such as {name} are not supported for it (use a budget or anomaly rule "
            f"scoped by {name})"
        )
    if scope_value == OTHER:
        raise ScopeError(
            f"{OTHER} groups the {name} values past the daily limit (many values summed), not one "
            f"{name}: give one {name} value, or leave it empty for each {name}"
        )


# --- Honest about the cardinality guard -----------------------------------------------------------


@dataclass(frozen=True)
class WatchedDays:
    first: date
    last: date


def watched_days(rule: Rule, now: datetime) -> WatchedDays:
    """The local days whose spend the rule reads now: a budget's period so far, or an anomaly rule's
    baseline days and today."""
    calendar = ProjectCalendar.of(rule.project)
    today = calendar.date_of(now)
    if rule.kind == RuleKind.BUDGET:
        return WatchedDays(calendar.date_of(calendar.window(rule.period, now).start), today)
    step = 7 if rule.same_weekday else 1
    return WatchedDays(today - timedelta(days=step * rule.anomaly_days), today)


def rule_warnings_now(rule: Rule, now: datetime) -> list[str]:
    """``overflow_warnings`` over the days the rule reads now (nothing for the built-in scopes)."""
    if not is_custom(rule.scope) or rule.kind not in (RuleKind.BUDGET, RuleKind.ANOMALY):
        return []
    days = watched_days(rule, now)
    return overflow_warnings(rule, days.first, days.last)


def incident_warnings(incident: Incident) -> list[str]:
    """``overflow_warnings`` over the incident's period (nothing for the built-in scopes)."""
    rule = incident.rule
    if not is_custom(rule.scope):
        return []
    first, last = ProjectCalendar.of(rule.project).days_of(incident.period_start, incident.period_end)
    return overflow_warnings(rule, first, last)


def overflow_warnings(rule: Rule, first: date, last: date) -> list[str]:
    """What a rule scoped by a dimension does not see on local days ``first``..``last``: the days on
    which the dimension reached its daily limit of distinct values and grouped the rest under (other).

    Each value: the (other) group is skipped, so the values in it are not checked one by one. One
    value: the days on which that value was not admitted (its spend, if any, is under (other)).
    """
    dimension = dimension_of(rule)
    if dimension is None or rule.kind not in (RuleKind.BUDGET, RuleKind.ANOMALY):
        return []
    found = overflows_of(rule.project, [dimension], first, last)
    if not found:
        return []
    overflow = found[0]
    name = dimension.name
    if not rule.scope_value:
        return [
            f"{overflow.message}. This rule checks each {name} separately and skips {OTHER}: "
            f"the spend of the {name} values grouped there is not checked against it."
        ]
    admitted = set(
        DimensionValue.objects.filter(dimension=dimension, day__in=overflow.days, value=rule.scope_value).values_list(
            "day", flat=True
        )
    )
    missed = [day for day in overflow.days if day not in admitted]
    if not missed:
        return []
    more = f" and {len(missed) - 5} more" if len(missed) > 5 else ""
    shown = ", ".join(day.isoformat() for day in missed[:5]) + more
    return [
        f"{name} had more than {overflow.limit} distinct values on {shown} and {rule.scope_value} was not among "
        f"the first {overflow.limit}: its spend on those days, if any, is grouped under {OTHER} and not "
        "checked by this rule."
    ]
