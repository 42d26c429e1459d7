"""The price of a call: a project's view of the stored catalog, cached per process by version.

``PriceBook(project)`` answers ``price_for`` / ``price_for_call``. Building one costs a single
primary-key lookup while nothing changed: the versions of the global catalog and of the
project's overrides and aliases (``CatalogVersion``, set from a sequence by database triggers on
every write to those tables, a queryset ``update()`` or raw SQL included). The global catalog
(rows and match rules) and each project's overrides and aliases are loaded again only when their
version differs from the one cached in this process (``forget_catalog`` drops the cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection

from costwatch.pricing.catalog import catalog_patterns
from costwatch.pricing.cost import PriceRow, choose_price, price_in_force, utc_day, varies_within_a_day
from costwatch.pricing.matching import CatalogMatcher, CatalogProviderRules, match_model
from costwatch.pricing.models import CatalogModel, CatalogProvider, CatalogVersion, ModelAlias, ModelPrice
from costwatch.pricing.store import row_of

Versions = list[tuple[ModelPrice, PriceRow]]


@dataclass(frozen=True)
class PricedModel:
    """The price of a call: the stored row (``price``), the row that prices it and how it was found.

    ``row`` is ``row_of(price)`` except for a batch call priced from a standard row's batch
    discount (then ``row`` is the derived batch row). ``approximate`` with ``note``: the call's
    service tier has no price of its own and the standard price was used.
    """

    price: ModelPrice
    row: PriceRow
    how: str  # how the model name matched: exact | alias | rule | normalized | pattern
    service_tier: str = "standard"
    approximate: bool = False
    note: str = ""


@dataclass(frozen=True)
class GlobalCatalog:
    """The global catalog as the matcher and the price lookup need it; shared by a process."""

    version: tuple[object, ...]
    rows: dict[tuple[str, str], Versions]  # (provider, model) → versions, oldest first; no retired rows
    matcher: CatalogMatcher


@dataclass(frozen=True)
class _ProjectPrices:
    version: tuple[object, ...]
    overrides: dict[str, Versions]  # model → the project's versions, oldest first
    aliases: dict[str, str]  # the project's name → catalog key


_CATALOG: GlobalCatalog | None = None
_PROJECTS: dict[int, _ProjectPrices] = {}
_NO_PROJECT = _ProjectPrices((), {}, {})


def forget_catalog() -> None:
    """Drop the process's cached catalog and project prices (the next ``PriceBook`` reloads them)."""
    global _CATALOG
    _CATALOG = None
    _PROJECTS.clear()


def _versions(project_id: int | None) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """(global catalog version, the project's overrides-and-aliases version): the rows of
    ``CatalogVersion`` (0 where there is none), in one primary-key lookup."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT scope, changes FROM {CatalogVersion._meta.db_table} WHERE scope IN (0, %s)",
            [project_id or 0],
        )
        changes = dict(cursor.fetchall())
    return (changes.get(0, 0),), (changes.get(project_id, 0) if project_id else 0,)


def _load_catalog(version: tuple[object, ...]) -> GlobalCatalog:
    rows: dict[tuple[str, str], Versions] = {}
    for price in ModelPrice.objects.filter(project__isnull=True, retired_at__isnull=True).order_by(
        "effective_from", "id"
    ):
        rows.setdefault((price.provider, price.model), []).append((price, row_of(price)))
    providers = [
        CatalogProviderRules(p.id, p.provider_match, p.model_match, tuple(p.fallback_providers))
        for p in CatalogProvider.objects.order_by("position", "id")
    ]
    known = {p.id for p in providers}
    models: dict[str, list[tuple[str, Any]]] = {}
    listed: set[tuple[str, str]] = set()
    for entry in CatalogModel.objects.order_by("provider", "position", "id"):
        if (entry.provider, entry.model) in rows:
            models.setdefault(entry.provider, []).append((entry.model, entry.match))
            listed.add((entry.provider, entry.model))
    for provider, model in sorted(set(rows) - listed):  # imported or entered rows: no rule of their own
        models.setdefault(provider, []).append((model, None))
        if provider not in known:
            providers.append(CatalogProviderRules(provider))
            known.add(provider)
    return GlobalCatalog(version, rows, CatalogMatcher(providers, models, patterns=catalog_patterns()))


def _load_project(project_id: int, version: tuple[object, ...]) -> _ProjectPrices:
    overrides: dict[str, Versions] = {}
    for price in ModelPrice.objects.filter(project_id=project_id).order_by("effective_from", "id"):
        overrides.setdefault(price.model, []).append((price, row_of(price)))
    aliases = dict(ModelAlias.objects.filter(project_id=project_id).values_list("alias", "model"))
    return _ProjectPrices(version, overrides, aliases)


def _current(project_id: int | None) -> tuple[GlobalCatalog, _ProjectPrices]:
    """The cached catalog and project prices, reloaded where the stored version moved."""
    global _CATALOG
    catalog_version, project_version = _versions(project_id)
    catalog = _CATALOG
    if catalog is None or catalog.version != catalog_version:
        catalog = _CATALOG = _load_catalog(catalog_version)
    if project_id is None:
        return catalog, _NO_PROJECT
    prices = _PROJECTS.get(project_id)
    if prices is None or prices.version != project_version:
        prices = _PROJECTS[project_id] = _load_project(project_id, project_version)
    return catalog, prices


def global_catalog() -> GlobalCatalog:
    """The global catalog (rows, match rules), loaded once per change of the stored catalog."""
    return _current(None)[0]


class PriceBook:
    """A project's view of the catalog (its overrides and aliases first), for one unit of work.

    Matching (costwatch.pricing.matching): a project override matched exactly or through an
    alias wins; else the global catalog is searched with its match rules (``CatalogMatcher``:
    exact, alias, rule, normalized, pattern, guided by the reported provider); an override for
    the model found that way beats the global row; last, an override matched by normalization.
    The row in force and the service tier are chosen by ``cost.choose_price``. A book keeps the
    prices it was built with and remembers each name's match, and each name's price per UTC day
    and tier (unless a row of it has a daily window): build one per export or job.
    """

    def __init__(self, project) -> None:  # noqa: ANN001 - Project or None (the global catalog only)
        self._catalog, prices = _current(project.pk if project is not None else None)
        self._overrides = prices.overrides
        self._aliases = prices.aliases
        self._matches: dict[tuple[str, str | None], _Match | None] = {}
        self._by_day: dict[tuple[str, str | None, str | None, date], PricedModel | None] = {}

    def price_for_call(
        self,
        model: str | None,
        request_model: str | None,
        at,  # noqa: ANN001 - datetime
        *,
        provider: str | None = None,
        service_tier: str | None = None,
    ) -> PricedModel | None:
        """The price of a stored call: by its response model, else by the model it asked for."""
        found = self.price_for(model, at, provider=provider, service_tier=service_tier)
        if found is None and request_model != model:
            found = self.price_for(request_model, at, provider=provider, service_tier=service_tier)
        return found

    def price_for(
        self,
        model: str | None,
        at,  # noqa: ANN001 - datetime or date
        *,
        provider: str | None = None,
        service_tier: str | None = None,
    ) -> PricedModel | None:
        """The price in force at ``at`` (UTC) for a model name as ``provider`` reported it, or None.

        ``service_tier``: standard | flex | batch | priority | fast (None = standard); a tier the
        catalog has no row for is priced at the standard row, ``approximate``. Unknown names and
        models with no row in force at ``at`` → None (unpriced).
        """
        if not model:
            return None
        key = (model, provider)
        if key not in self._matches:
            self._matches[key] = self._match(model, provider)
        match = self._matches[key]
        if match is None:
            return None
        if match.varies_within_a_day:
            return self._priced(match, at, service_tier)
        day_key = (model, provider, service_tier, utc_day(at))
        if day_key not in self._by_day:
            self._by_day[day_key] = self._priced(match, at, service_tier)
        return self._by_day[day_key]

    def _priced(self, match: _Match, at, service_tier: str | None) -> PricedModel | None:  # noqa: ANN001
        how, versions = match.how, match.versions
        choice = choose_price([row for _, row in versions], at, service_tier=service_tier)
        if choice is None:
            return None
        stored = next((price for price, row in versions if row is choice.row), None)
        if stored is None:  # a batch row derived from the standard row's discount: that standard row
            stored = price_in_force([price for price, _ in versions], at)
            assert stored is not None, "choose_price derives a batch row only from a standard row in force"
        return PricedModel(stored, choice.row, how, choice.service_tier, choice.approximate, choice.note)

    def _match(self, model: str, provider: str | None) -> _Match | None:
        found = self._resolve(model, provider)
        if found is None:
            return None
        how, versions, _ = found
        return _Match(how, versions, varies_within_a_day(row for _, row in versions))

    def _resolve(self, model: str, provider: str | None) -> tuple[str, Versions, str] | None:
        if self._overrides:
            own = match_model(model, set(self._overrides), aliases=self._aliases)
            if own is not None and own.how in ("exact", "alias"):
                return own.how, self._overrides[own.key], own.key
        else:
            own = None
        found = self._catalog.matcher.match(model, provider=provider, aliases=self._aliases)
        if found is not None:
            if found.key in self._overrides:
                return found.how, self._overrides[found.key], found.key
            return found.how, self._catalog.rows[(found.provider, found.key)], found.key
        if own is not None:
            return own.how, self._overrides[own.key], own.key
        return None


@dataclass(frozen=True)
class _Match:
    """What a model name (as a provider reported it) matched in a book: how, and its versions."""

    how: str
    versions: Versions
    varies_within_a_day: bool  # a version has a daily window: its price is chosen per call
