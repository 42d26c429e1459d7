"""Template context for every frontend page: the project, the person's permissions there, the switcher."""
from __future__ import annotations

from django.http import HttpRequest

from frontend.access import visible_projects
from frontend.services import PRESETS, permissions_of


def navigation(request: HttpRequest) -> dict[str, object]:
    project = getattr(request, "project", None)
    if project is None or not request.user.is_authenticated:
        return {}
    match = request.resolver_match
    section = match.kwargs.get("dimension") or match.url_name if match else ""
    return {
        "project": project,
        "perms_here": permissions_of(request.user, project),
        "switchable_projects": visible_projects(request.user).only("slug", "name"),
        "section": section,
        "presets": PRESETS,
    }
