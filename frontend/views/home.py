"""Signing in and out, the start page and the project switcher."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from frontend.access import visible_projects


@login_required
def home(request: HttpRequest) -> HttpResponse:
    project = visible_projects(request.user).first()
    if project is None:
        return render(request, "frontend/no_projects.html")
    return redirect("frontend:overview", slug=project.slug)


@login_required
def switch(request: HttpRequest) -> HttpResponse:
    project = visible_projects(request.user).filter(slug=request.GET.get("project", "")).first()
    if project is None:
        raise Http404("No such project, or you are not a member of it.")
    return redirect("frontend:overview", slug=project.slug)
