"""Pricing API (/api/v1): pre-flight estimate, re-pricing, project price overrides and aliases.

Thin views over costwatch.pricing.estimate, costwatch.pricing.overrides and costwatch.usage.repricing. Reads accept a project
read key or a member's session; writes need a logged-in person whose role may manage prices.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from costwatch.money import decimal_json
from costwatch.pricing.estimate import EstimateError, ModelEstimate, estimate_cost
from costwatch.pricing.models import ModelAlias, ModelPrice
from costwatch.pricing.overrides import (
    PriceInputError,
    price_row_from_input,
    remove_alias,
    set_alias,
    set_override,
)
from costwatch.pricing.serializers import (
    AliasChangeSerializer,
    AliasListSerializer,
    EstimateResultSerializer,
    PriceChangeSerializer,
    PriceListSerializer,
)
from costwatch.pricing.store import PRICE_MONEY_FIELDS
from costwatch.projects.api import ProjectAPIView, json_object, request_project
from costwatch.projects.models import Project
from costwatch.projects.permissions import Action
from costwatch.projects.schema import PROJECT_PARAM, errors


def _reprice_hint(project: Project, model: str | None = None) -> str:
    api_model = f' with {{"model": "{model}"}}' if model else ""
    cli_model = f" --model {model}" if model else ""
    return (
        "Stored calls keep their cost until re-priced: POST /api/v1/reprice?project="
        f"{project.slug}{api_model}, or `python manage.py reprice --project {project.slug}{cli_model}`."
    )


def price_json(price: ModelPrice) -> dict[str, object]:
    data: dict[str, object] = {"id": price.pk, "provider": price.provider, "model": price.model}
    data.update({name: decimal_json(getattr(price, name)) for name in PRICE_MONEY_FIELDS})
    data.update(
        {
            "unit": f"{price.currency} per 1M tokens",
            "currency": price.currency,
            "long_context_threshold": price.long_context_threshold,
            "service_tier": price.service_tier,
            "daily_from_utc": price.daily_from.strftime("%H:%M") if price.daily_from else None,
            "daily_until_utc": price.daily_until.strftime("%H:%M") if price.daily_until else None,
            "other_prices": price.other_prices,
            "retired": price.retired_at is not None,
            "effective_from": price.effective_from.isoformat(),
            "effective_until": price.effective_until.isoformat() if price.effective_until else None,
            "context_window": price.context_window,
            "max_output_tokens": price.max_output_tokens,
            "source_url": price.source_url,
            "origin": price.origin,
            "override": price.project_id is not None,
        }
    )
    return data


def estimate_json(estimate: ModelEstimate) -> dict[str, object]:
    priced, cost = estimate.priced, estimate.cost
    return {
        "model": estimate.model,
        "provider": priced.price.provider if priced else None,
        "priced": priced is not None,
        "price_key": priced.row.model if priced else None,
        "matched_by": priced.how if priced else None,
        "input_tokens": estimate.input_tokens,
        "output_tokens": estimate.output_tokens,
        "encoding": estimate.encoding,
        "approximate": estimate.approximate,
        "currency": priced.row.currency if priced else None,
        "cost": decimal_json(cost.total) if cost else None,
        "cost_input": decimal_json(cost.input) if cost else None,
        "cost_output": decimal_json(cost.output) if cost else None,
        "long_context": cost.long_context if cost else False,
        "price": None
        if priced is None
        else {
            "id": priced.price.pk,
            "provider": priced.price.provider,
            "model": priced.price.model,
            "input": decimal_json(priced.row.input),
            "output": decimal_json(priced.row.output),
            "effective_from": priced.row.effective_from.isoformat(),
            "override": priced.price.project_id is not None,
        },
        "context_window": estimate.context_window,
        "max_output_tokens": estimate.max_output_tokens,
        "fits": estimate.fits,
        "problems": estimate.problems if priced else [f"{estimate.model} is not in the price catalog: cost unknown"],
    }


class EstimateRequest(serializers.Serializer):
    messages = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Chat messages [{role, content}] (content: string or list of text parts). Or send text.",
    )
    text = serializers.CharField(required=False, help_text="Plain prompt text, instead of messages.")
    models = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="One or more model names (max 20). Optional with compare.",
    )
    output_tokens = serializers.IntegerField(required=False, min_value=0, help_text="Expected output tokens.")
    compare = serializers.JSONField(
        required=False,
        help_text=(
            "true, or {providers: [ids], min_context_window: tokens, modality: text|audio|image|video, "
            "include_free: bool, limit: 1-200 (default 50)}: also estimate every catalog model that fits the "
            "prompt and the filters, cheapest first."
        ),
    )


class EstimateView(ProjectAPIView):
    @extend_schema(
        summary="Pre-flight cost estimate",
        description=(
            "Token counts (tiktoken; `approximate` for non-OpenAI models), cost per model from the "
            "catalog with the project's overrides, and the context-window check; results cheapest first, "
            "unpriced last. With `compare`, every catalog model that fits the prompt (and the filters) is "
            "estimated too, so 'what would this cost on a smaller model' has an answer. Unknown models are "
            "listed as unpriced, not an error. Allowed for a read key."
        ),
        parameters=[PROJECT_PARAM],
        request=EstimateRequest,
        responses={200: EstimateResultSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        project = request_project(request)
        data = json_object(request, ("messages", "text", "models", "output_tokens", "compare"))
        at = timezone.now()
        try:
            estimates = estimate_cost(
                project,
                models=data.get("models"),
                output_tokens=data.get("output_tokens", 0),
                messages=data.get("messages"),
                text=data.get("text"),
                at=at,
                compare=data.get("compare"),
            )
        except EstimateError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(
            EstimateResultSerializer(
                {
                    "project": project.slug,
                    "at": at.isoformat(),
                    "results": [estimate_json(e) for e in estimates],
                    "unpriced": [e.model for e in estimates if e.priced is None],
                    "too_long": [e.model for e in estimates if e.problems],
                }
            ).data
        )


class PriceRequest(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField(help_text="Catalog key (lower-cased), e.g. gpt-4o or my-llama-70b")
    input = serializers.CharField(help_text='Per 1M tokens, a decimal string such as "2.5"')
    output = serializers.CharField()
    cache_read = serializers.CharField(required=False)
    cache_write = serializers.CharField(required=False)
    cache_write_1h = serializers.CharField(required=False)
    long_context_threshold = serializers.IntegerField(required=False)
    long_input = serializers.CharField(required=False)
    long_output = serializers.CharField(required=False)
    long_cache_read = serializers.CharField(required=False)
    long_cache_write = serializers.CharField(required=False)
    long_cache_write_1h = serializers.CharField(required=False)
    output_reasoning = serializers.CharField(required=False)
    input_audio = serializers.CharField(required=False)
    input_image = serializers.CharField(required=False)
    input_video = serializers.CharField(required=False)
    cache_read_audio = serializers.CharField(required=False)
    cache_read_image = serializers.CharField(required=False)
    output_audio = serializers.CharField(required=False)
    output_image = serializers.CharField(required=False)
    output_video = serializers.CharField(required=False)
    batch_discount = serializers.CharField(required=False, help_text='fraction, e.g. "0.5"')
    service_tier = serializers.ChoiceField(
        choices=["standard", "flex", "batch", "priority", "fast"], required=False, default="standard"
    )
    currency = serializers.CharField(required=False, default="USD")
    effective_from = serializers.DateField(required=False, help_text="default: since ever (2020-01-01)")
    effective_until = serializers.DateField(required=False, help_text="exclusive")
    context_window = serializers.IntegerField(required=False)
    max_output_tokens = serializers.IntegerField(required=False)
    source_url = serializers.CharField(required=False)
    checked_on = serializers.DateField(required=False)


class PricesView(ProjectAPIView):
    @extend_schema(
        summary="Project price overrides (and the catalog)",
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter(
                "scope",
                OpenApiTypes.STR,
                enum=["overrides", "catalog", "all"],
                description="overrides (default): the project's own prices; catalog: global rows",
            ),
            OpenApiParameter("model", OpenApiTypes.STR, description="only this catalog key"),
            OpenApiParameter("provider", OpenApiTypes.STR, description="only this provider (e.g. openai, aws)"),
            OpenApiParameter(
                "service_tier",
                OpenApiTypes.STR,
                enum=["standard", "flex", "batch", "priority", "fast"],
                description="only rows of this service tier",
            ),
        ],
        responses={200: PriceListSerializer, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        scope = request.query_params.get("scope", "overrides")
        if scope not in ("overrides", "catalog", "all"):
            raise ValidationError({"detail": "scope must be overrides, catalog or all"})
        prices = ModelPrice.objects.none()
        if scope in ("overrides", "all"):
            prices = prices | ModelPrice.objects.filter(project=project)
        if scope in ("catalog", "all"):
            prices = prices | ModelPrice.objects.filter(project__isnull=True)
        for name in ("model", "provider", "service_tier"):
            if request.query_params.get(name):
                prices = prices.filter(**{name: request.query_params[name]})
        rows = prices.order_by("provider", "model", "effective_from", "project_id")
        return Response(
            PriceListSerializer(
                {"project": project.slug, "scope": scope, "results": [price_json(p) for p in rows]}
            ).data
        )

    @extend_schema(
        summary="Add or correct a project price override",
        description=(
            "A negotiated price for a catalog model, or the price of a self-hosted model. Prices are "
            "per 1M tokens, as decimal strings; JSON floats are refused. A new dated version is added "
            "when the price in force that day differs. Stored calls are not re-priced automatically."
        ),
        parameters=[PROJECT_PARAM],
        request=PriceRequest,
        responses={
            201: OpenApiResponse(PriceChangeSerializer, description="A new price version was added"),
            200: OpenApiResponse(PriceChangeSerializer, description="Unchanged, or an existing version was corrected"),
            **errors(400),
        },
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_PRICES)
        try:
            row = price_row_from_input(request.data)
        except PriceInputError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        change = set_override(project, row)
        return Response(
            PriceChangeSerializer(
                {
                    "status": change.status,
                    "detail": change.label,
                    "price": price_json(change.price),
                    "reprice": _reprice_hint(project, row.model),
                }
            ).data,
            status=status.HTTP_201_CREATED if change.status == "added" else status.HTTP_200_OK,
        )


class AliasRequest(serializers.Serializer):
    alias = serializers.CharField(help_text="The model name your spans report, e.g. an Azure deployment name")
    model = serializers.CharField(help_text="The catalog key it stands for")


class AliasesView(ProjectAPIView):
    @extend_schema(
        summary="The project's model aliases",
        parameters=[PROJECT_PARAM],
        responses={200: AliasListSerializer, **errors()},
    )
    def get(self, request: Request) -> Response:
        project = request_project(request)
        aliases = ModelAlias.objects.filter(project=project).order_by("alias")
        return Response(AliasListSerializer({"project": project.slug, "results": aliases}).data)

    @extend_schema(
        summary="Add or change a model alias",
        parameters=[PROJECT_PARAM],
        request=AliasRequest,
        responses={
            201: OpenApiResponse(AliasChangeSerializer, description="Added"),
            200: OpenApiResponse(AliasChangeSerializer, description="Changed or unchanged"),
            **errors(400),
        },
    )
    def post(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_PRICES)
        data = json_object(request, ("alias", "model"))
        try:
            alias, created = set_alias(project, data.get("alias"), data.get("model"))
        except PriceInputError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(
            AliasChangeSerializer(
                {
                    "alias": alias.alias,
                    "model": alias.model,
                    "created": created,
                    "reprice": _reprice_hint(project, alias.alias),
                }
            ).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Remove a model alias",
        parameters=[PROJECT_PARAM, OpenApiParameter("alias", OpenApiTypes.STR, description="or in the JSON body")],
        request=None,
        responses={204: None, **errors(400, 404)},
    )
    def delete(self, request: Request) -> Response:
        project = request_project(request, Action.MANAGE_PRICES)
        name = request.query_params.get("alias")
        if name is None and isinstance(request.data, dict):
            name = request.data.get("alias")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError({"detail": 'say which alias to remove: ?alias=<name> or {"alias": ...}'})
        if not remove_alias(project, name.strip()):
            raise NotFound(f"no alias {name.strip()!r} in project {project.slug}")
        return Response(status=status.HTTP_204_NO_CONTENT)
