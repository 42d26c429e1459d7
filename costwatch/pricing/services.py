"""Storing the price catalog and looking up the price in force for a call."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from django.db import transaction

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelPrice, PriceOrigin

_ROW_FIELDS = [f.name for f in fields(PriceRow)]


@dataclass(frozen=True)
class CatalogSync:
    added: list[str]
    changed: list[str]
    unchanged: int


def row_of(price: ModelPrice) -> PriceRow:
    return PriceRow(**{name: getattr(price, name) for name in _ROW_FIELDS})


@transaction.atomic
def sync_catalog(rows: Iterable[PriceRow], *, origin: str, project=None) -> CatalogSync:  # noqa: ANN001
    """Insert or update catalog rows keyed by (project, provider, model, effective_from). Idempotent."""
    added: list[str] = []
    changed: list[str] = []
    unchanged = 0
    for row in rows:
        values = asdict(row)
        key = {k: values.pop(k) for k in ("provider", "model", "effective_from")}
        label = f"{key['provider']}/{key['model']} from {key['effective_from']}"
        existing = ModelPrice.objects.select_for_update().filter(project=project, **key).first()
        if existing is None:
            ModelPrice.objects.create(project=project, origin=PriceOrigin(origin), **key, **values)
            added.append(label)
        elif any(getattr(existing, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(existing, k, v)
            existing.origin = PriceOrigin(origin)
            existing.save()
            changed.append(label)
        else:
            unchanged += 1
    return CatalogSync(added, changed, unchanged)


@dataclass(frozen=True)
class PricedModel:
    price: ModelPrice
    row: PriceRow
    how: str  # how the model name matched: exact | alias | normalized | pattern


class PriceBook:
    """A project's view of the catalog (its overrides and aliases first), loaded once per use.

    Matching follows costwatch.pricing.matching: exact, alias, normalized, pattern. A project
    override for a model beats the global row for the same key.
    """

    def __init__(self, project) -> None:  # noqa: ANN001 - Project
        from costwatch.pricing.catalog import catalog_patterns
        from costwatch.pricing.models import ModelAlias

        self._rows: dict[str, list[ModelPrice]] = {}
        self._overrides: dict[str, list[ModelPrice]] = {}
        for price in ModelPrice.objects.filter(project__isnull=True).order_by("effective_from"):
            self._rows.setdefault(price.model, []).append(price)
        for price in ModelPrice.objects.filter(project=project).order_by("effective_from"):
            self._overrides.setdefault(price.model, []).append(price)
        self._aliases = dict(ModelAlias.objects.filter(project=project).values_list("alias", "model"))
        self._patterns = catalog_patterns()
        self._known = set(self._rows) | set(self._overrides)
        self._matches: dict[str, object] = {}
        self._row_cache: dict[int, PriceRow] = {}

    def price_for(self, model: str | None, at) -> PricedModel | None:  # noqa: ANN001 - datetime
        """The price row in force at ``at`` for this model name, or None (unpriced)."""
        from costwatch.pricing.matching import match_model

        if not model:
            return None
        if model not in self._matches:
            self._matches[model] = match_model(model, self._known, aliases=self._aliases, patterns=self._patterns)
        match = self._matches[model]
        if match is None:
            return None
        day = at.date() if hasattr(at, "date") else at
        for candidates in (self._overrides.get(match.key, []), self._rows.get(match.key, [])):
            for price in reversed(candidates):  # latest effective_from first
                if price.effective_from <= day and (price.effective_until is None or day < price.effective_until):
                    if price.pk not in self._row_cache:
                        self._row_cache[price.pk] = row_of(price)
                    return PricedModel(price, self._row_cache[price.pk], match.how)
        return None
