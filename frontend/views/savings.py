"""The Savings page: opportunities ranked by USD per month, with evidence and charts; approved alternatives."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from costwatch.projects.models import Project
from costwatch.projects.permissions import Action, can
from costwatch.savings.models import ApprovedAlternative
from costwatch.savings.opportunities import KINDS
from costwatch.savings.services import (
    PERIODS,
    SavingsError,
    approve_alternative,
    remove_alternative,
    savings_report_for_query,
)
from frontend.access import project_view

KIND_NAMES = {
    "model_whatif": "Model what-if",
    "prompt_caching": "Prompt caching",
    "output_caps": "Output caps",
    "conversation_context": "Conversation context",
    "batch": "Batch",
    "outliers": "Expensive outliers",
    "response_cache": "Response cache",
}
# Evidence shown in its own table or chart rather than in the list of numbers.
_SPECIAL_EVIDENCE = {"table", "top", "mix"}


@project_view(Action.VIEW_COSTS)
def savings(request: HttpRequest, project: Project, *, status: int = 200) -> HttpResponse:
    error = ""
    try:
        report = savings_report_for_query(project, request.GET)
    except SavingsError as exc:
        report, error = None, str(exc)
        status = 400
    cards = []
    for n, o in enumerate(report.opportunities if report else []):
        cards.append(
            {
                "o": o,
                "id": o.id,
                "kind_name": KIND_NAMES[o.kind],
                "chart_id": f"savings-chart-{n}",
                "numbers": [(k, v) for k, v in o.evidence.items() if k not in _SPECIAL_EVIDENCE],
            }
        )
    return render(
        request,
        "frontend/savings.html",
        {
            "report": report,
            "cards": cards,
            "error": error,
            "periods": list(PERIODS),
            "kinds": KIND_NAMES,
            "period": request.GET.get("period") or "30d",
            "scope": request.GET.get("scope") or "feature",
            "chosen_kinds": request.GET.getlist("kind"),
            "alternatives": ApprovedAlternative.objects.filter(project=project),
            "can_manage": can(request.user, project, Action.MANAGE_ALERTS),
            "kind_list": KINDS,
        },
        status=status,
    )


@require_POST
@project_view(Action.MANAGE_ALERTS)
def add_alternative(request: HttpRequest, project: Project) -> HttpResponse:
    model = request.POST.get("model", "")
    provider, _, name = model.partition("/")
    try:
        approve_alternative(
            project, request.POST.get("feature", "").strip(), provider, name, request.POST.get("note", "")
        )
    except SavingsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{model} approved for {request.POST.get('feature')}: its saving now counts.")
    return redirect("frontend:savings", slug=project.slug)


@require_POST
@project_view(Action.MANAGE_ALERTS)
def delete_alternative(request: HttpRequest, project: Project, alternative_id: int) -> HttpResponse:
    if remove_alternative(project, alternative_id):
        messages.success(request, "Approval withdrawn.")
    return redirect("frontend:savings", slug=project.slug)
