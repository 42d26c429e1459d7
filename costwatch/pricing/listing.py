"""The catalog as people read it (pricing page): what it is, a search of its models, one model's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from costwatch.pricing.cost import price_in_force
from costwatch.pricing.models import CatalogModel, ModelPrice, PriceSync


@dataclass(frozen=True)
class CatalogSummary:
    """What the global catalog is: its source and version, size and last synchronisation."""

    source: str | None
    version: str | None
    models: int
    providers: int
    prices: int
    last_sync: Any  # PriceSync | None


def catalog_summary() -> CatalogSummary:
    """Source, version, model/provider/price counts and the last sync of the global catalog."""
    last = PriceSync.objects.order_by("-at", "-id").first()
    keys = ModelPrice.objects.filter(project__isnull=True, retired_at__isnull=True)
    return CatalogSummary(
        source=last.source if last else None,
        version=last.version if last else None,
        models=keys.values("provider", "model").distinct().count(),
        providers=keys.values("provider").distinct().count(),
        prices=keys.count(),
        last_sync=last,
    )


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog model for a listing: its standard price in force and the tiers it has."""

    provider: str
    model: str
    name: str
    price: ModelPrice | None  # the standard row in force at the listing's moment (None: none now)
    tiers: list[str]
    versions: int


def search_catalog(query: str = "", *, at: datetime | None = None, limit: int = 100) -> tuple[list[CatalogEntry], int]:
    """Catalog models whose provider, id or name contains ``query`` (case-insensitive), and how many match.

    Ordered by provider, then model; at most ``limit`` entries. Each entry carries the standard
    price in force at ``at`` (default now, UTC) and the service tiers the model has rows for.
    """
    at = at or timezone.now()
    rows = ModelPrice.objects.filter(project__isnull=True, retired_at__isnull=True)
    names: dict[tuple[str, str], str] = {}
    if query:
        named = CatalogModel.objects.filter(name__icontains=query).values_list("provider", "model", "name")
        names.update({(p, m): n for p, m, n in named[:limit]})
        match = Q(model__icontains=query) | Q(provider__icontains=query)
        for provider, model in names:
            match |= Q(provider=provider, model=model)
        rows = rows.filter(match)
    keys = list(rows.values_list("provider", "model").distinct().order_by("provider", "model"))
    shown = keys[:limit]
    if not shown:
        return [], len(keys)
    wanted = Q()
    for provider, model in shown:
        wanted |= Q(provider=provider, model=model)
    versions: dict[tuple[str, str], list[ModelPrice]] = {}
    for price in rows.filter(wanted).order_by("effective_from", "id"):
        versions.setdefault((price.provider, price.model), []).append(price)
    for provider, model, name in CatalogModel.objects.filter(wanted).values_list("provider", "model", "name"):
        names[(provider, model)] = name
    entries = []
    for key in shown:
        prices = versions.get(key, [])
        current = price_in_force(prices, at)
        tiers = sorted({p.service_tier for p in prices} - {"standard"})
        entries.append(CatalogEntry(key[0], key[1], names.get(key, ""), current, tiers, len(prices)))
    return entries, len(keys)


@dataclass(frozen=True)
class ModelHistory:
    """Every stored price of one catalog model (all tiers, windows, periods) and its match rule."""

    provider: str
    model: str
    name: str
    match: Any
    prices: list[ModelPrice]


def model_history(provider: str, model: str) -> ModelHistory | None:
    """The global catalog's rows of (provider, model), oldest first; None when it has none."""
    prices = list(
        ModelPrice.objects.filter(project__isnull=True, provider=provider, model=model).order_by(
            "service_tier", "effective_from", "daily_from", "id"
        )
    )
    if not prices:
        return None
    entry = CatalogModel.objects.filter(provider=provider, model=model).first()
    return ModelHistory(provider, model, entry.name if entry else "", entry.match if entry else None, prices)
