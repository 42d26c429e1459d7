"""Which project an API request may read or change: shared by every app's API views."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from costwatch.projects.models import Project
from costwatch.projects.permissions import (
    Action,
    ActionNotAllowed,
    ProjectNotNamed,
    ProjectNotVisible,
    project_for,
)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class ProjectAPIView(APIView):
    """The base of every /api/v1 view.

    Refuses NUL characters in the path, the query and a JSON body with a 400 before any view code
    runs: PostgreSQL cannot store or compare them, so they would otherwise surface as a 500.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if _has_nul(kwargs) or any(_has_nul(k) or _has_nul(v) for k, v in request.query_params.lists()):
            raise ValidationError({"detail": "the URL contains a NUL character"})
        if request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") and _has_nul(request.data):
            raise ValidationError({"detail": "the body contains a NUL character"})


def request_project(request: Request, action: Action = Action.VIEW_COSTS) -> Project:
    """The project an API request may use for ``action``: ``?project=<slug>``, else the key's own,
    the caller's first for a read, the caller's only one for a change.

    The decision is ``costwatch.projects.permissions.project_for``, the same gate the pages use.
    Raises DRF's ``PermissionDenied`` (403, ``{"detail": ...}``) when the project is not visible or
    the action not allowed (keys are read-only), and ``ValidationError`` (400) when a change names
    no project and the caller sees several.
    """
    try:
        return project_for(request.user, request.query_params.get("project") or None, action)
    except (ProjectNotVisible, ActionNotAllowed) as exc:
        raise PermissionDenied(str(exc)) from None
    except ProjectNotNamed as exc:
        raise ValidationError({"detail": str(exc)}) from None


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


@csrf_exempt  # nothing happens here; a POST with a stale cookie still gets the JSON 404, not the CSRF page
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any /api/v1/ URL that names no endpoint: a JSON 404 like the endpoints' own, not the web app's page."""
    return JsonResponse({"detail": f"no API endpoint at {request.path}; see /api/docs/"}, status=404)
