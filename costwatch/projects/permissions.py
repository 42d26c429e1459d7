"""Who may do what in a project: one table and one gate, used by pages and the API alike.

``project_for(principal, slug, action)`` is the only place that decides whether a caller may use a
project: the API (``costwatch.projects.api.request_project``) and the pages
(``frontend.access.project_view`` and ``require``) call it and only translate its refusals into
their own answers (API: 403 with a JSON body, 400 for an unnamed project; pages: 404 for a project
the person cannot see, 403 for an action their role does not allow). ``can`` applies the same
rule to a project already in hand, to decide what a page or a response offers (links, buttons, a
channel's secret to those who manage channels); ``project_for`` calls it for its last step.

The rule, in one place:
- a superuser (a signed-in person with Django's ``is_superuser``) may do anything in every
  project, member or not, and sees every project;
- a member may do what their role allows (``ALLOWED``) in their projects;
- a project read key may read its own project (``READ_ACTIONS``) and nothing else;
- everyone else sees no project at all.
A caller that names no project gets a key's own project, else their first visible project by slug
for a read; a change (any action outside ``READ_ACTIONS``) never guesses: a person who sees
several projects, a superuser included, must name one.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from costwatch.projects.models import Project, Role
from costwatch.projects.services import projects_of, role_of


class Action(StrEnum):
    VIEW_COSTS = "view_costs"
    EXPORT_COSTS = "export_costs"
    VIEW_ALERTS = "view_alerts"
    WORK_INCIDENTS = "work_incidents"  # acknowledge, silence
    MANAGE_ALERTS = "manage_alerts"  # rules; test sends to existing channels
    # Channels choose where Costwatch sends HTTP requests and what it sends: admins only.
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_PRICES = "manage_prices"  # overrides, aliases, re-pricing
    MANAGE_KEYS = "manage_keys"  # API keys, and billing sources' admin keys
    IMPORT_BILLS = "import_bills"  # provider cost CSVs (reconciliation)
    MANAGE_MEMBERS = "manage_members"
    MANAGE_DIMENSIONS = "manage_dimensions"  # custom dimensions (what spans are grouped by)


ALLOWED: dict[str, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.FINANCE: frozenset({Action.VIEW_COSTS, Action.EXPORT_COSTS, Action.VIEW_ALERTS, Action.IMPORT_BILLS}),
    Role.ONCALL: frozenset({Action.VIEW_COSTS, Action.VIEW_ALERTS, Action.WORK_INCIDENTS, Action.MANAGE_ALERTS}),
}
# The actions that only read. A project read key may do these in its own project and nothing else;
# every other action changes something, so it never runs on a guessed project.
READ_ACTIONS: frozenset[Action] = frozenset({Action.VIEW_COSTS, Action.EXPORT_COSTS, Action.VIEW_ALERTS})


class ProjectNotVisible(LookupError):
    """The caller cannot see this project (it does not exist, or they are not a member)."""


class ActionNotAllowed(PermissionError):
    """The caller sees the project, but their role (or key) does not allow the action."""


class ProjectNotNamed(LookupError):
    """A change names no project and the caller sees several: the gate does not guess which."""


def _key_project(principal: object) -> Project | None:
    # A KeyPrincipal (costwatch.projects.authentication) carries the key's project; people do not.
    project = getattr(principal, "project", None)
    return project if isinstance(project, Project) else None


def is_superuser(principal: object) -> bool:
    """A signed-in person with Django's superuser flag (a key never is one)."""
    return bool(getattr(principal, "is_authenticated", False) and getattr(principal, "is_superuser", False))


def visible_projects(principal: object) -> QuerySet[Project]:
    """The projects a caller can open, ordered by slug: a key's own, a person's memberships, or all for a superuser."""
    key_project = _key_project(principal)
    if key_project is not None:
        return Project.objects.filter(pk=key_project.pk)
    if not getattr(principal, "is_authenticated", False):
        return Project.objects.none()
    if is_superuser(principal):
        return Project.objects.order_by("slug")
    return projects_of(principal).order_by("slug")  # type: ignore[arg-type]


def can(principal: AbstractBaseUser | object, project: Project, action: Action) -> bool:
    """True when the caller may do ``action`` in ``project`` (see the module docstring for the rule)."""
    key_project = _key_project(principal)
    if key_project is not None:
        return key_project.pk == project.pk and action in READ_ACTIONS
    if not getattr(principal, "is_authenticated", False):
        return False
    if is_superuser(principal):
        return True
    role = role_of(principal, project)  # type: ignore[arg-type]
    return role is not None and action in ALLOWED[role]


def project_for(principal: AbstractBaseUser | object, slug: str | None, action: Action) -> Project:
    """The project ``slug`` names, once the caller may do ``action`` there (the rule: module docstring).

    Without a slug: a key's own project; for a read, the caller's first visible project by slug;
    for a change, the caller's only visible project.
    Raises ``ActionNotAllowed`` (a key asked to change something; or the project is visible but the
    role does not allow ``action``), ``ProjectNotVisible`` (unknown project, not a member, another
    project's key, or no project at all) and ``ProjectNotNamed`` (a change without a slug from a
    caller who sees several projects).
    """
    key_project = _key_project(principal)
    if key_project is not None and action not in READ_ACTIONS:
        raise ActionNotAllowed(f"API keys are read-only; sign in as a project member allowed to {action.value}")
    if key_project is not None and slug and slug != key_project.slug:
        raise ProjectNotVisible("this key belongs to another project")
    visible = visible_projects(principal)
    if not slug and action not in READ_ACTIONS and visible.count() > 1:
        raise ProjectNotNamed("you belong to several projects; say which with ?project=<slug>")
    project = visible.filter(slug=slug).first() if slug else visible.first()
    if project is None:
        raise ProjectNotVisible(
            f"you are not a member of project {slug!r}" if slug else "you are not a member of any project"
        )
    if not can(principal, project, action):
        raise ActionNotAllowed(f"your role in {project.slug!r} does not allow {action.value}")
    return project
