"""Signing in and out, the start page and the project switcher."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from costwatch.projects.permissions import Action
from frontend.access import page_project


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The person's first project's overview, or how to get a project when they have none."""
    try:
        project = page_project(request, None, Action.VIEW_COSTS)
    except Http404:
        return render(request, "frontend/no_projects.html")
    return redirect("frontend:overview", slug=project.slug)


@login_required
def switch(request: HttpRequest) -> HttpResponse:
    """The project switcher: the overview of the project ``?project=<slug>`` names."""
    slug = request.GET.get("project", "")
    if not slug:
        raise Http404("Say which project to open (?project=<slug>).")
    project = page_project(request, slug, Action.VIEW_COSTS)
    return redirect("frontend:overview", slug=project.slug)
