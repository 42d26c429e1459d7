"""Settings (API keys, members and roles, custom dimensions) and pricing (catalog, project overrides)."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.listing import catalog_summary, model_history, search_catalog
from costwatch.pricing.models import ModelPrice, Repricing
from costwatch.pricing.overrides import set_override
from costwatch.projects.models import ApiKey, Membership, Project
from costwatch.projects.permissions import Action, can
from costwatch.projects.services import (
    LastAdminError,
    PersonError,
    add_member,
    issue_key,
    remove_member,
    revoke_key,
    set_password_path,
)
from costwatch.usage.dimensions import (
    DimensionError,
    delete_dimension,
    dimension_named,
    dimension_status,
    dimensions_of,
    rules_using,
    save_dimension,
)
from costwatch.usage.models import CustomDimension
from frontend.access import project_view, require
from frontend.forms import DimensionForm, KeyForm, MemberForm, PriceOverrideForm

# The secret of a new key reaches the next page through the session, read once and removed, so the
# create is a POST answered by a redirect (reloading the page never creates another key) and the
# secret is never stored beyond that one read.
ISSUED_KEY_SESSION = "costwatch.issued_key"
NEW_ACCOUNT_SESSION = "costwatch.new_account"


def _keys_page(request: HttpRequest, project: Project, form: KeyForm, issued: dict | None = None) -> HttpResponse:
    keys = ApiKey.objects.filter(project=project).select_related("created_by")
    response = render(
        request,
        "frontend/keys.html",
        {"form": form, "keys": keys, "issued": issued},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )
    if issued:
        response["Cache-Control"] = "no-store"
    return response


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """A new person chooses their password from the one-time link, then signs in."""

    template_name = "frontend/set_password.html"
    success_url = reverse_lazy("frontend:login")

    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:
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
    assert request.user.is_authenticated  # project_view requires a signed-in person
    issued = issue_key(project, form.cleaned_data["scope"], name=form.cleaned_data["name"], created_by=request.user)
    request.session[ISSUED_KEY_SESSION] = {
        "project": project.slug,
        "secret": issued.secret,
        "scope": issued.key.get_scope_display(),
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
                    "project": project.slug,
                    "username": membership.user.get_username(),
                    "link": request.build_absolute_uri(added.set_password_path),
                    "renewed": not added.created_account,
                }
            return redirect("frontend:members", slug=project.slug)
    new_account = request.session.get(NEW_ACCOUNT_SESSION) if request.method != "POST" else None
    new_account = (
        request.session.pop(NEW_ACCOUNT_SESSION) if new_account and new_account.get("project") == project.slug else None
    )
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    response = render(
        request,
        "frontend/members.html",
        {"form": form, "memberships": memberships, "new_account": new_account},
        status=400 if form.is_bound else 200,
    )
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
        "project": project.slug,
        "username": membership.user.get_username(),
        "link": request.build_absolute_uri(set_password_path(membership.user)),
        "renewed": True,
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
    return render(
        request,
        "frontend/pricing.html",
        {
            "summary": catalog_summary(),
            "entries": entries,
            "matching": matching,
            "query": query,
            "overrides": ModelPrice.objects.filter(project=project).order_by("provider", "model", "-effective_from"),
            "repricings": Repricing.objects.filter(project=project).order_by("-at", "-id")[:20],
            "form": form or PriceOverrideForm(),
        },
        status=400 if form is not None else 200,
    )


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
            messages.success(
                request,
                f"Override {row.provider}/{row.model} from {row.effective_from} {changed}. "
                "Calls already stored keep their cost until re-priced (manage.py reprice).",
            )
            return redirect("frontend:pricing", slug=project.slug)
    return _pricing_page(request, project, form)


# --- Custom dimensions ----------------------------------------------------------------------------
# The rules of a valid dimension are costwatch.usage.dimensions'; these views parse the form, call
# save_dimension / delete_dimension and show their DimensionError next to the fields it names.


def _dimension_errors(form: DimensionForm, error: DimensionError) -> None:
    for field, message in error.errors.items():
        form.add_error(field if field in form.fields else None, message[:1].upper() + message[1:] + ".")


def _dimensions_page(
    request: HttpRequest, project: Project, form: DimensionForm | None = None, status: int = 200
) -> HttpResponse:
    dimensions = []
    for dimension in dimensions_of(project):
        dimensions.append({**asdict(dimension_status(dimension)), "rules": sorted(rules_using(dimension))})
    return render(
        request,
        "frontend/dimensions.html",
        {
            "dimensions": dimensions,
            "form": form or DimensionForm(default_limit=settings.COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY),
            "can_manage": can(request.user, project, Action.MANAGE_DIMENSIONS),
            "span_days": settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS,
            "max_dimensions": settings.COSTWATCH_MAX_DIMENSIONS,
        },
        status=status,
    )


@project_view(Action.VIEW_COSTS)
def dimensions(request: HttpRequest, project: Project) -> HttpResponse:
    """Settings → Dimensions: everyone who reads costs sees the list; admins add dimensions (POST)."""
    if request.method != "POST":
        return _dimensions_page(request, project)
    require(request, Action.MANAGE_DIMENSIONS)
    form = DimensionForm(request.POST, default_limit=settings.COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY)
    if form.is_valid():
        data = form.cleaned_data
        try:
            dimension = save_dimension(
                project,
                name=data["name"],
                attribute_keys=data["attribute_keys"],
                max_values_per_day=data["max_values_per_day"],
            )
        except DimensionError as exc:
            _dimension_errors(form, exc)
        else:
            messages.success(
                request,
                (
                    f"Dimension {dimension.name} added. Costwatch now reads it from the spans it receives and "
                    f"backfills the spans of the last {settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS} days in the "
                    "background; its page fills in when that is done."
                ),
            )
            return redirect("frontend:dimensions", slug=project.slug)
    return _dimensions_page(request, project, form, status=400)


def _named(project: Project, name: str) -> CustomDimension:
    dimension = dimension_named(project, name)
    if dimension is None:
        raise Http404(f"This project has no dimension named {name!r}.")
    return dimension


@project_view(Action.MANAGE_DIMENSIONS)
def dimension_edit(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    """Change a dimension's attribute keys (they are backfilled again) or its daily limit."""
    dimension = _named(project, name)
    if request.method != "POST":
        form = DimensionForm(
            editing=True,
            initial={
                "attribute_keys": "\n".join(dimension.attribute_keys),
                "max_values_per_day": dimension.max_values_per_day,
            },
        )
        return render(request, "frontend/dimension_edit.html", {"dimension": dimension, "form": form})
    form = DimensionForm(request.POST, editing=True)
    if form.is_valid():
        data = form.cleaned_data
        keys_before, limit_before = list(dimension.attribute_keys), dimension.max_values_per_day
        try:
            saved = save_dimension(
                project,
                instance=dimension,
                name=dimension.name,
                attribute_keys=data["attribute_keys"],
                max_values_per_day=data["max_values_per_day"],
            )
        except DimensionError as exc:
            _dimension_errors(form, exc)
        else:
            changes = []
            if saved.attribute_keys != keys_before:
                changes.append(
                    f"its new keys are backfilled from the spans of the last "
                    f"{settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS} days in the background"
                )
            if saved.max_values_per_day != limit_before:
                changes.append(
                    f"the limit of {saved.max_values_per_day:,} values a day applies to the days rolled up from now on"
                )
            messages.success(
                request,
                f"Dimension {saved.name} saved"
                + (": " + "; ".join(changes) if changes else " (nothing changed)")
                + ".",
            )
            return redirect("frontend:dimensions", slug=project.slug)
    dimension.refresh_from_db()
    return render(request, "frontend/dimension_edit.html", {"dimension": dimension, "form": form}, status=400)


@require_POST
@project_view(Action.MANAGE_DIMENSIONS)
def dimension_delete(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    dimension = _named(project, name)
    try:
        delete_dimension(dimension)
    except DimensionError as exc:
        messages.error(request, f"{dimension.name} is not deleted: " + "; ".join(exc.errors.values()) + ".")
        return _dimensions_page(request, project, status=400)
    messages.success(
        request,
        f"Dimension {name} and its rollups are deleted. Adding it again reads the kept span attributes once more.",
    )
    return redirect("frontend:dimensions", slug=project.slug)
