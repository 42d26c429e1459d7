"""Which project a page is about and whether the signed-in person may use it there.

Every page URL carries the project slug; a person who is not a member of that project gets a
404 (the page does not reveal whether the project exists), a member whose role does not allow
the page's action gets a 403. The role table is ``costwatch.projects.permissions``.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from costwatch.projects.services import projects_of

View = Callable[..., HttpResponse]


def visible_projects(user) -> QuerySet[Project]:  # noqa: ANN001 - a Django user
    """The projects a person can open: their memberships (a superuser sees every project)."""
    if getattr(user, "is_superuser", False):
        return Project.objects.all()
    return projects_of(user).order_by("slug")


def project_view(action: Action) -> Callable[[View], View]:
    """Resolve ``slug`` to ``request.project`` and require ``action`` there (and a signed-in person)."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: object, **kwargs: object) -> HttpResponse:
            project = visible_projects(request.user).filter(slug=slug).first()
            if project is None:
                raise Http404("No such project, or you are not a member of it.")
            if not can(request.user, project, action):
                raise PermissionDenied(f"Your role in {project.name} does not allow this ({action.value}).")
            request.project = project  # type: ignore[attr-defined]
            # Pages show times in the project's time zone, the one its "today" and budgets use.
            with timezone.override(project.tz):
                return view(request, project, *args, **kwargs)

        return wrapper

    return decorate


def require(request: HttpRequest, action: Action) -> None:
    """Refuse (403) an action on the request's project that the person's role does not allow."""
    if not can(request.user, request.project, action):  # type: ignore[attr-defined]
        raise PermissionDenied(f"Your role does not allow this ({action.value}).")
