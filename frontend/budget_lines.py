"""Budget status of one user/feature/endpoint/model for its cost page, from alerts.budgets."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from alerts.budgets import budget_status
from costwatch.projects.models import Project


@dataclass(frozen=True)
class BudgetLine:
    name: str
    period: str
    spent: Decimal
    amount: Decimal
    state: str  # over | near (past one of the rule's early warnings) | ok
    state_label: str
    percent: int  # of the amount used, for the meter
    bar: int  # the same, capped at 100 for the bar's width


def budget_status_of(project: Project, dimension: str, key: str) -> list[BudgetLine]:
    """The budgets that apply to this one group (not the project-wide ones), with how much is used."""
    lines = []
    for status in budget_status(project, {dimension: key}):
        if status.rule.scope != dimension:
            continue
        percent = int(status.spend * 100 / status.limit) if status.limit else 0
        warned = any(percent >= level for level in status.rule.warn_percents or [])
        state = "over" if status.exceeded else "near" if warned else "ok"
        label = {"over": "over budget", "near": "near the limit", "ok": "within budget"}[state]
        lines.append(
            BudgetLine(
                status.rule.name,
                status.rule.get_period_display().lower(),
                status.spend,
                status.limit,
                state,
                label,
                percent,
                min(percent, 100),
            )
        )
    return lines
