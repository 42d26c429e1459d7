"""Settings (API keys, members and roles) and pricing (catalog, project overrides)."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelPrice, PriceOrigin, Repricing
from costwatch.pricing.services import catalog_summary, model_history, search_catalog, sync_catalog
from costwatch.projects.models import ApiKey, Membership, Project
from costwatch.projects.permissions import Action
from costwatch.projects.services import LastAdminError, issue_key, remove_member, revoke_key, set_member
from frontend.access import project_view
from frontend.forms import KeyForm, MemberForm, PriceOverrideForm


def _keys_page(request: HttpRequest, project: Project, form: KeyForm, issued: object = None) -> HttpResponse:
    keys = ApiKey.objects.filter(project=project).select_related("created_by")
    return render(request, "frontend/keys.html", {"form": form, "keys": keys, "issued": issued},
                  status=400 if form.is_bound and not form.is_valid() else 200)


@project_view(Action.MANAGE_KEYS)
def keys(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method != "POST":
        return _keys_page(request, project, KeyForm())
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, project, form)
    issued = issue_key(project, form.cleaned_data["scope"], name=form.cleaned_data["name"], created_by=request.user)
    # Rendered, not redirected: the secret exists only in this response and is never stored.
    response = _keys_page(request, project, KeyForm(), issued)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@project_view(Action.MANAGE_KEYS)
def revoke(request: HttpRequest, project: Project, key_id: int) -> HttpResponse:
    key = ApiKey.objects.filter(project=project, pk=key_id).first()
    if key is None:
        raise Http404("No such key in this project.")
    if revoke_key(key):
        messages.success(request, f"Key {key.prefix}… is revoked; requests using it are refused from now on.")
    else:
        messages.info(request, f"Key {key.prefix}… was already revoked.")
    return redirect("frontend:keys", slug=project.slug)


@project_view(Action.MANAGE_MEMBERS)
def members(request: HttpRequest, project: Project) -> HttpResponse:
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = set_member(project, form.cleaned_data["username"], form.cleaned_data["role"])
        except LastAdminError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{membership.user} is now {membership.get_role_display()} of {project.name}.")
            return redirect("frontend:members", slug=project.slug)
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    return render(request, "frontend/members.html", {"form": form, "memberships": memberships},
                  status=400 if form.is_bound else 200)


@require_POST
@project_view(Action.MANAGE_MEMBERS)
def remove_member_view(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    membership = Membership.objects.filter(project=project, pk=membership_id).select_related("user").first()
    if membership is None:
        raise Http404("No such member in this project.")
    try:
        remove_member(project, membership.user)
    except LastAdminError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user} no longer has access to {project.name}.")
    return redirect("frontend:members", slug=project.slug)


@project_view(Action.VIEW_COSTS)
def pricing(request: HttpRequest, project: Project) -> HttpResponse:
    return _pricing_page(request, project, None)


CATALOG_LISTED = 100


def _pricing_page(request: HttpRequest, project: Project, form: PriceOverrideForm | None) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    entries, matching = search_catalog(query, limit=CATALOG_LISTED)
    return render(request, "frontend/pricing.html", {
        "summary": catalog_summary(),
        "entries": entries,
        "matching": matching,
        "query": query,
        "overrides": ModelPrice.objects.filter(project=project).order_by("provider", "model", "-effective_from"),
        "repricings": Repricing.objects.filter(project=project).order_by("-at", "-id")[:20],
        "form": form or PriceOverrideForm(),
    }, status=400 if form is not None else 200)


@project_view(Action.VIEW_COSTS)
def price_history(request: HttpRequest, project: Project) -> HttpResponse:
    history = model_history(request.GET.get("provider", ""), request.GET.get("model", ""))
    if history is None:
        raise Http404("no such catalog model")
    return render(request, "frontend/price_history.html", {"history": history})


@require_POST
@project_view(Action.MANAGE_PRICES)
def add_override(request: HttpRequest, project: Project) -> HttpResponse:
    form = PriceOverrideForm(request.POST)
    if form.is_valid():
        try:
            row = PriceRow(**form.cleaned_data)
        except (TypeError, ValueError) as exc:
            form.add_error(None, str(exc))
        else:
            result = sync_catalog([row], origin=PriceOrigin.MANUAL, project=project)
            changed = "added" if result.added else "updated" if result.changed else "unchanged"
            messages.success(request, f"Override {row.provider}/{row.model} from {row.effective_from} {changed}. "
                                      "Calls already stored keep their cost until re-priced (manage.py reprice).")
            return redirect("frontend:pricing", slug=project.slug)
    return _pricing_page(request, project, form)
