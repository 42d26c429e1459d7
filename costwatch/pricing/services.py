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
