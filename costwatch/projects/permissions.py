"""Who may do what in a project: one table, used by pages and the API alike."""
from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser

from costwatch.projects.models import Project, Role
from costwatch.projects.services import role_of


class Action(StrEnum):
    VIEW_COSTS = "view_costs"
    EXPORT_COSTS = "export_costs"
    VIEW_ALERTS = "view_alerts"
    WORK_INCIDENTS = "work_incidents"   # acknowledge, silence
    MANAGE_ALERTS = "manage_alerts"     # rules; test sends to existing channels
    # Channels choose where Costwatch sends HTTP requests and what it sends: admins only.
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_PRICES = "manage_prices"     # overrides, aliases, re-pricing
    MANAGE_KEYS = "manage_keys"         # API keys, and billing sources' admin keys
    IMPORT_BILLS = "import_bills"       # provider cost CSVs (reconciliation)
    MANAGE_MEMBERS = "manage_members"


ALLOWED: dict[str, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.FINANCE: frozenset({Action.VIEW_COSTS, Action.EXPORT_COSTS, Action.VIEW_ALERTS, Action.IMPORT_BILLS}),
    Role.ONCALL: frozenset({Action.VIEW_COSTS, Action.VIEW_ALERTS, Action.WORK_INCIDENTS, Action.MANAGE_ALERTS}),
}


def can(user: AbstractBaseUser, project: Project, action: Action) -> bool:
    """True when the user's role in this project allows the action. Superusers may do anything."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False):
        return True
    role = role_of(user, project)
    return role is not None and action in ALLOWED[role]
