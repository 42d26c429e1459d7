"""The reconciliation page: the providers' bills against Costwatch's estimate, sources and imports."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from costwatch.billing import services
from costwatch.billing.models import BillingSource
from costwatch.billing.services import BillingError, ReconciliationRow
from costwatch.billing.sources import SOURCES, SourceError
from costwatch.billing.tasks import queue_due_pulls
from costwatch.money import decimal_json
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from frontend.access import project_view, require
from frontend.forms import BillImportForm, BillingSourceForm
from frontend.services import PALETTE

DEFAULT_DAYS = 30
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _day(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        return default


def chart_of(rows: list[ReconciliationRow], start: date, end: date) -> dict[str, object]:
    """Chart.js data: billed and estimated USD per UTC day and provider; unknown values are gaps (null)."""
    labels = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    index = {label: i for i, label in enumerate(labels)}
    datasets = []
    for n, provider in enumerate(sorted({r.provider for r in rows})):
        billed: list[float | None] = [None] * len(labels)
        estimated: list[float | None] = [None] * len(labels)
        for row in rows:
            i = index.get(row.day.isoformat())
            if row.provider != provider or i is None:
                continue
            # Chart drawing only, not money maths; a bill in another currency is not drawn on the USD axis.
            billed[i] = float(row.billed) if row.billed is not None and row.currency == "USD" else None
            estimated[i] = float(row.estimate.cost_usd) if row.estimate.cost_usd is not None else None
        colour = PALETTE[(2 * n) % len(PALETTE)]
        datasets.append(
            {"label": f"{provider} billed", "data": billed, "backgroundColor": colour, "stack": f"{provider}-billed"}
        )
        datasets.append(
            {
                "label": f"{provider} estimated",
                "data": estimated,
                "backgroundColor": PALETTE[(2 * n + 1) % len(PALETTE)],
                "stack": f"{provider}-estimated",
            }
        )
    return {"labels": labels, "datasets": datasets}


def _page(
    request: HttpRequest,
    project: Project,
    *,
    source_form: BillingSourceForm | None = None,
    import_form: BillImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    today = timezone.now().date()  # UTC: the bills' calendar
    end = _day(request.GET.get("end"), today)
    start = _day(request.GET.get("start"), end - timedelta(days=DEFAULT_DAYS - 1))
    provider = request.GET.get("provider") or ""
    error = ""
    try:
        rows = services.reconcile(project, start, end, providers=[provider] if provider in SOURCES else None)
    except BillingError as exc:
        rows, error = [], str(exc)
    manage = can(request.user, project, Action.MANAGE_KEYS)
    return render(
        request,
        "frontend/reconciliation.html",
        {
            "rows": rows,
            "start": start,
            "end": end,
            "provider": provider,
            "providers": sorted(SOURCES),
            "error": error,
            "chart": chart_of(rows, start, end) if rows else None,
            "sources": services.sources_of(project) if manage else [],
            "source_form": source_form or BillingSourceForm(),
            "import_form": import_form or BillImportForm(),
            "imports": services.history(project),
        },
        status=status,
    )


@project_view(Action.VIEW_COSTS)
def reconciliation(request: HttpRequest, project: Project) -> HttpResponse:
    return _page(request, project)


@require_POST
@project_view(Action.MANAGE_KEYS)
def add_source(request: HttpRequest, project: Project) -> HttpResponse:
    form = BillingSourceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            source = services.add_source(
                project,
                data["provider"],
                data["admin_key"],
                name=data["name"],
                scope_ids=data["scope_ids"],
                base_url=data["base_url"],
            )
        except BillingError as exc:
            form.add_error(None, str(exc))
        else:
            queue_due_pulls()
            messages.success(request, f"{source.name} added (key …{source.key_hint}); its first pull is queued.")
            return redirect("frontend:reconciliation", slug=project.slug)
    return _page(request, project, source_form=form, status=400)


def _source(project: Project, source_id: int) -> BillingSource:
    source = BillingSource.objects.filter(project=project, pk=source_id).first()
    if source is None:
        raise Http404("No such billing source in this project.")
    return source


@require_POST
@project_view(Action.MANAGE_KEYS)
def pull_source(request: HttpRequest, project: Project, source_id: int) -> HttpResponse:
    source = _source(project, source_id)
    if services.request_pull(source):
        queue_due_pulls()
        messages.success(request, f"Pull of {source.name} queued; the result shows under “Last pull”.")
    else:
        messages.error(request, f"{source.name} is revoked; add its key again to pull.")
    return redirect("frontend:reconciliation", slug=project.slug)


@require_POST
@project_view(Action.MANAGE_KEYS)
def revoke_source(request: HttpRequest, project: Project, source_id: int) -> HttpResponse:
    source = _source(project, source_id)
    if services.revoke_source(source):
        messages.success(request, f"{source.name}: the admin key is erased and pulls stop. Pulled bills stay.")
    else:
        messages.info(request, f"{source.name} was already revoked.")
    return redirect("frontend:reconciliation", slug=project.slug)


@require_POST
@project_view(Action.VIEW_COSTS)
def import_bill(request: HttpRequest, project: Project) -> HttpResponse:
    require(request, Action.IMPORT_BILLS)
    form = BillImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > MAX_UPLOAD_BYTES:
                raise SourceError("the file is over 20 MB")
            result = services.import_csv(
                project, form.cleaned_data["provider"], upload.read().decode("utf-8-sig"), filename=upload.name or ""
            )
        except UnicodeDecodeError:
            form.add_error("file", "The file is not UTF-8 text (CSV).")
        except SourceError as exc:
            form.add_error("file", f"{exc}. Nothing was imported.")
        else:
            totals = ", ".join(f"{decimal_json(v)} {c}" for c, v in sorted(result.total_by_currency.items()))
            messages.success(
                request,
                f"Imported {result.lines} lines for {len(result.days)} UTC days ({totals or 'nothing billed'}).",
            )
            return redirect("frontend:reconciliation", slug=project.slug)
    return _page(request, project, import_form=form, status=400)
