"""Budget status for apps: what each budget that applies to a user (feature, tenant, ...) has left.

Read at request time from the rollups (``costwatch.usage.spend``), so a few seconds behind ingest;
the period is the rule's calendar period now, in the project's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from alerts.models import Rule, RuleKind, Scope
from alerts.scopes import spend_groups
from costwatch.projects.calendar import ProjectCalendar, Window
from costwatch.projects.models import Project
from costwatch.usage.spend import spend_by_group


@dataclass(frozen=True)
class BudgetStatus:
    """One budget rule for one group: ``spend`` in its current ``window`` against ``limit`` (USD)."""

    rule: Rule
    group: str  # '' for a project-wide rule
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
    """Every enabled budget rule of the project that applies to these groups (stored scope -> value,
    e.g. ``{"user": "alice", "dim:3": "acme"}``) or to the whole project, by rule name."""
    now = now or timezone.now()
    applies = Q(scope=Scope.PROJECT)
    for dimension, value in groups.items():
        applies |= Q(scope=dimension, scope_value="") | Q(scope=dimension, scope_value=value)
    rules = (
        Rule.objects.filter(project=project, kind=RuleKind.BUDGET, enabled=True, amount__isnull=False)
        .filter(applies)
        .select_related("project")
        .order_by("name", "id")
    )
    out = []
    for rule in rules:
        assert rule.amount is not None  # amount__isnull=False above
        group = "" if rule.scope == Scope.PROJECT else groups[rule.scope]
        window = ProjectCalendar.of(project).window(rule.period, now)
        spend = spend_by_group(project, spend_groups(rule), window.start, window.end, keys=[group]).get(
            group, Decimal(0)
        )
        out.append(BudgetStatus(rule, group, window, spend, rule.amount))
    return out
