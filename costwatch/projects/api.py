"""Which project an API request may read or change: shared by every app's API views."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request

from costwatch.projects.authentication import KeyPrincipal
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from costwatch.projects.services import projects_of


def project_for(request: Request, action: Action = Action.VIEW_COSTS) -> Project:
    """The project a request may use: the key's own, or one where the person's role allows ``action``."""
    user = request.user
    if isinstance(user, KeyPrincipal):
        slug = request.query_params.get("project")
        if slug and slug != user.project.slug:
            raise PermissionDenied("this key belongs to another project")
        return user.project
    allowed = projects_of(user)
    slug = request.query_params.get("project")
    project = allowed.filter(slug=slug).first() if slug else allowed.first()
    if project is None:
        raise PermissionDenied(f"you are not a member of project {slug!r}" if slug else "you are not a member of any project")
    if not can(user, project, action):
        raise PermissionDenied(f"your role in {project.slug!r} does not allow {action.value}")
    return project


def json_object(request: Request, allowed: Iterable[str]) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"detail": "send a JSON object"})
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValidationError(
            {"detail": f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"}
        )
    return data


def writable_project(request: Request, action: Action) -> Project:
    """The project a write targets: only a logged-in person whose role allows ``action``."""
    if isinstance(request.user, KeyPrincipal):
        raise PermissionDenied("API keys are read-only; log in as a project member allowed to make this change")
    if not request.query_params.get("project") and projects_of(request.user).count() > 1:
        raise ValidationError({"detail": "you belong to several projects; say which with ?project=<slug>"})
    project = project_for(request, action)
    if not can(request.user, project, action):
        raise PermissionDenied(f"your role in project {project.slug!r} does not allow {action.value}")
    return project
