"""Template context for every frontend page: the project, the person's permissions there, the switcher."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from costwatch.usage.dimensions import dimensions_of
from frontend.access import visible_projects
from frontend.services import PRESETS, dimension_label, permissions_of

# Pages of one custom dimension (their ``name`` is the dimension's): its tab is the current one.
DIMENSION_PAGES = {"dimension", "dimension-group", "dimension-breakdown"}
# Up to this many custom dimensions get a tab each; more share one "Dimensions" tab.
DIMENSION_TABS = 4


def navigation(request: HttpRequest) -> dict[str, object]:
    project = getattr(request, "project", None)
    if project is None or not request.user.is_authenticated:
        return {}
    match = request.resolver_match
    section = match.kwargs.get("dimension") or match.url_name if match else ""
    current = match.kwargs.get("name") if match and match.url_name in DIMENSION_PAGES else None
    dimensions = [
        {
            "name": d.name,
            "label": dimension_label(d.name),
            "current": d.name == current,
            "url": reverse("frontend:dimension", args=[project.slug, d.name]),
        }
        for d in dimensions_of(project)
    ]
    return {
        "nav_dimensions": dimensions,
        "nav_dimension_tabs": len(dimensions) <= DIMENSION_TABS,
        "project": project,
        "perms_here": permissions_of(request.user, project),
        "switchable_projects": visible_projects(request.user).only("slug", "name"),
        "section": section,
        "presets": PRESETS,
    }
