"""Which project a page is about and whether the signed-in person may use it there.

Every page URL carries the project slug; a person who is not a member of that project gets a
404 (the page does not reveal whether the project exists), a member whose role does not allow
the page's action gets a 403. The decision is ``costwatch.projects.permissions.project_for``,
the same gate the API uses; this module only turns its refusals into those answers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from costwatch.projects.models import Project
from costwatch.projects.permissions import (
    Action,
    ActionNotAllowed,
    ProjectNotVisible,
    project_for,
    visible_projects,
)

__all__ = ["page_project", "project_view", "require", "visible_projects"]

View = Callable[..., HttpResponse]


def page_project(request: HttpRequest, slug: str | None, action: Action) -> Project:
    """The project ``slug`` names (without one: the person's first), once they may do ``action`` there.

    Raises ``Http404`` when the person cannot see it and ``PermissionDenied`` (403) when their role
    does not allow ``action``.
    """
    try:
        return project_for(request.user, slug, action)
    except ProjectNotVisible:
        raise Http404("No such project, or you are not a member of it.") from None
    except ActionNotAllowed:
        raise PermissionDenied(f"Your role in this project does not allow this ({action.value}).") from None


def project_view(action: Action) -> Callable[[View], View]:
    """Resolve ``slug`` to ``request.project`` and require ``action`` there (and a signed-in person)."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: object, **kwargs: object) -> HttpResponse:
            project = page_project(request, slug, action)
            request.project = project  # type: ignore[attr-defined]
            # Pages show times in the project's time zone, the one its "today" and budgets use.
            with timezone.override(project.tz):
                return view(request, project, *args, **kwargs)

        return wrapper

    return decorate


def require(request: HttpRequest, action: Action) -> None:
    """Refuse (403) an action on the request's project that the person's role does not allow."""
    page_project(request, request.project.slug, action)  # type: ignore[attr-defined]
