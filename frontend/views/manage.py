"""Settings (API keys, members and roles) and pricing (catalog, project overrides)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.listing import catalog_summary, model_history, search_catalog
from costwatch.pricing.models import ModelPrice, Repricing
from costwatch.pricing.overrides import set_override
from costwatch.projects.models import ApiKey, Membership, Project
from costwatch.projects.permissions import Action
from costwatch.projects.services import (
    LastAdminError,
    PersonError,
    add_member,
    issue_key,
    remove_member,
    revoke_key,
    set_password_path,
)
from frontend.access import project_view
from frontend.forms import KeyForm, MemberForm, PriceOverrideForm


# The secret of a new key reaches the next page through the session, read once and removed, so the
# create is a POST answered by a redirect (reloading the page never creates another key) and the
# secret is never stored beyond that one read.
ISSUED_KEY_SESSION = "costwatch.issued_key"
NEW_ACCOUNT_SESSION = "costwatch.new_account"


def _keys_page(request: HttpRequest, project: Project, form: KeyForm, issued: dict | None = None) -> HttpResponse:
    keys = ApiKey.objects.filter(project=project).select_related("created_by")
    response = render(request, "frontend/keys.html", {"form": form, "keys": keys, "issued": issued},
                      status=400 if form.is_bound and not form.is_valid() else 200)
    if issued:
        response["Cache-Control"] = "no-store"
    return response


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """A new person chooses their password from the one-time link, then signs in."""

    template_name = "frontend/set_password.html"
    success_url = reverse_lazy("frontend:login")

    def form_valid(self, form: forms.Form) -> HttpResponse:
        messages.success(self.request, "Your password is set. Sign in with it.")
        return super().form_valid(form)


@project_view(Action.MANAGE_KEYS)
def keys(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method != "POST":
        issued = request.session.get(ISSUED_KEY_SESSION)
        issued = request.session.pop(ISSUED_KEY_SESSION) if issued and issued.get("project") == project.slug else None
        return _keys_page(request, project, KeyForm(), issued)
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, project, form)
    issued = issue_key(project, form.cleaned_data["scope"], name=form.cleaned_data["name"], created_by=request.user)
    request.session[ISSUED_KEY_SESSION] = {
        "project": project.slug, "secret": issued.secret, "scope": issued.key.get_scope_display(),
    }
    return redirect("frontend:keys", slug=project.slug)


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
        data = form.cleaned_data
        try:
            added = add_member(project, data["username"], data["role"], create=True, email=data["email"])
        except (LastAdminError, PersonError) as exc:
            form.add_error(None, str(exc))
        else:
            membership = added.membership
            messages.success(request, f"{membership.user} is now {membership.get_role_display()} of {project.name}.")
            if added.set_password_path:
                request.session[NEW_ACCOUNT_SESSION] = {
                    "project": project.slug, "username": membership.user.get_username(),
                    "link": request.build_absolute_uri(added.set_password_path),
                    "renewed": not added.created_account,
                }
            return redirect("frontend:members", slug=project.slug)
    new_account = request.session.get(NEW_ACCOUNT_SESSION) if request.method != "POST" else None
    new_account = request.session.pop(NEW_ACCOUNT_SESSION) if new_account and new_account.get("project") == project.slug else None
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    response = render(request, "frontend/members.html",
                      {"form": form, "memberships": memberships, "new_account": new_account},
                      status=400 if form.is_bound else 200)
    if new_account:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@project_view(Action.MANAGE_MEMBERS)
def new_password_link(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    """A fresh one-time link for a member who has not chosen a password yet (the old one expired or got lost)."""
    membership = Membership.objects.filter(project=project, pk=membership_id).select_related("user").first()
    if membership is None:
        raise Http404("No such member in this project.")
    if membership.user.has_usable_password():
        messages.info(request, f"{membership.user} has set a password already; they can sign in.")
        return redirect("frontend:members", slug=project.slug)
    request.session[NEW_ACCOUNT_SESSION] = {
        "project": project.slug, "username": membership.user.get_username(),
        "link": request.build_absolute_uri(set_password_path(membership.user)), "renewed": True,
    }
    return redirect("frontend:members", slug=project.slug)


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
            change = set_override(project, row)
        except (TypeError, ValueError) as exc:
            form.add_error(None, str(exc))
        else:
            changed = {"added": "added", "changed": "updated"}.get(change.status, "unchanged")
            messages.success(request, f"Override {row.provider}/{row.model} from {row.effective_from} {changed}. "
                                      "Calls already stored keep their cost until re-priced (manage.py reprice).")
            return redirect("frontend:pricing", slug=project.slug)
    return _pricing_page(request, project, form)
