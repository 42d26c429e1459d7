"""Filling the global catalog from a source: genai-prices (``sync_source``), a LiteLLM price file
(``import_litellm``), and the default catalog on an empty database (``load_default_catalog_if_empty``).

Both are idempotent: running them again with the same data changes nothing. Stored calls keep
their costs; re-pricing stays an explicit ``reprice``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from costwatch.pricing.catalog import load_default_catalog
from costwatch.pricing.cost import PriceRow
from costwatch.pricing.litellm import parse_litellm
from costwatch.pricing.models import CatalogModel, CatalogProvider, ModelPrice, PriceOrigin, PriceSync
from costwatch.pricing.pricebook import forget_catalog
from costwatch.pricing.store import IDENTITY, add_version, column_problem, db_values, differences, price_label


class PriceFileError(ValueError):
    """The price file cannot be read at all (missing, not JSON, wrong shape)."""


@dataclass(frozen=True)
class PriceImport:
    added: list[str]
    changed: list[str]
    unchanged: int
    skipped: list[tuple[str, str]]  # (entry name, reason)


def read_price_file(path: str | Path) -> Mapping[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            # parse_float=Decimal: LiteLLM writes prices per token as JSON numbers (2.5e-06).
            data = json.load(handle, parse_float=Decimal)
    except FileNotFoundError:
        raise PriceFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PriceFileError(f"{path}: is a directory, not a price file") from None
    except UnicodeDecodeError as exc:
        raise PriceFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise PriceFileError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, Mapping):
        raise PriceFileError(
            f"{path}: a LiteLLM price file is a JSON object keyed by model name, got {type(data).__name__}"
        )
    return data


@transaction.atomic
def import_litellm(
    data: Mapping[str, Any], *, effective_from: date, source_url: str = "", checked_on: date | None = None
) -> PriceImport:
    """Import a LiteLLM ``model_prices_and_context_window.json`` into the global catalog.

    One bad entry is skipped with its reason; the rest are imported. See ``store.set_price`` for why
    running it again (the same day or later) changes nothing. What an entry does not state (no
    cache or batch price, no long-context tier, no limits) is kept from the version in force:
    LiteLLM leaving a field out means it does not say, not that the price is gone.
    """
    parsed = parse_litellm(data, effective_from=effective_from, checked_on=checked_on, source_url=source_url)
    if not parsed.rows:
        # Nothing usable at all: almost certainly not a LiteLLM file (e.g. our own catalog format).
        first = "; ".join(f"{name}: {reason}" for name, reason in parsed.skipped[:3])
        raise PriceFileError("no entry could be read as a LiteLLM per-token price" + (f" ({first})" if first else ""))
    versions: dict[tuple[str, str], list[ModelPrice]] = {}
    for price in ModelPrice.objects.select_for_update().filter(
        project__isnull=True, service_tier="standard", daily_from__isnull=True
    ):
        versions.setdefault((price.provider, price.model), []).append(price)
    added: list[str] = []
    changed: list[str] = []
    unchanged = 0
    skipped = list(parsed.skipped)
    for row in parsed.rows:
        problem = column_problem(row)
        if problem:
            skipped.append((f"{row.provider}/{row.model}", problem))
            continue
        change = add_version(
            row,
            versions.setdefault((row.provider, row.model), []),
            origin=PriceOrigin.LITELLM,
            project=None,
            inherit=True,
        )
        if change.status == "added":
            added.append(change.label)
        elif change.status == "changed":
            changed.append(change.label)
        else:
            unchanged += 1
    return PriceImport(added, changed, unchanged, skipped)


def import_litellm_file(path: str | Path, *, effective_from: date, source_url: str = "") -> PriceImport:
    return import_litellm(read_price_file(path), effective_from=effective_from, source_url=source_url)


@dataclass(frozen=True)
class SourceSync:
    """What a catalog sync from a source did (or, with ``dry_run``, would do)."""

    source: str
    version: str
    providers: int
    models: int
    added: list[str]
    changed: list[str]
    unchanged: int
    retired: list[str]
    skipped: list[tuple[str, str]]
    dry_run: bool
    seconds: float


_SOURCE_ORIGINS = (PriceOrigin.DEFAULT, PriceOrigin.GENAI_PRICES, PriceOrigin.HISTORY)
_COMPARED = [f.name for f in fields(PriceRow) if f.name not in IDENTITY]


@transaction.atomic
def sync_source(catalog, *, by: str, dry_run: bool = False) -> SourceSync:  # noqa: ANN001 - SourceCatalog
    """Make the global catalog what ``catalog`` (a genai-prices ``SourceCatalog``) says. Idempotent.

    Rows are keyed by (provider, model, service tier, effective_from, daily window): a new key is
    added, a key whose prices differ is changed (listed old → new), an equal one is kept. Rows of
    an earlier default or genai-prices catalog that the source no longer has are retired (kept
    for the calls they priced, no longer used for new calls), never deleted. Stored calls keep
    their costs: re-pricing stays an explicit ``reprice``. Providers and models (names and match
    rules) are replaced by the source's. Writes a ``PriceSync`` record unless ``dry_run``, which
    writes nothing at all. Rows are written in bulk: ~2,800 rows take about a second.
    """
    started = time.monotonic()
    existing = {
        tuple(getattr(price, name) for name in IDENTITY): price
        for price in ModelPrice.objects.select_for_update().filter(project__isnull=True)
    }
    seen: set[tuple[object, ...]] = set()
    to_create: list[ModelPrice] = []
    to_update: list[ModelPrice] = []
    added: list[str] = []
    changed: list[str] = []
    unchanged = 0
    skipped = list(catalog.skipped)
    now = timezone.now()
    for origin, rows in ((PriceOrigin.GENAI_PRICES, catalog.rows), (PriceOrigin.HISTORY, catalog.history)):
        for row in rows:
            problem = column_problem(row, exact=True)
            if problem:
                skipped.append((f"{row.provider}/{row.model}", problem))
                continue
            values = db_values(row)
            identity = tuple(values[name] for name in IDENTITY)
            seen.add(identity)
            price = existing.get(identity)
            if price is None:
                to_create.append(ModelPrice(project=None, origin=origin, created_at=now, updated_at=now, **values))
                added.append(price_label(row))
                continue
            changes = differences(price, row, [n for n in _COMPARED if n != "other_prices"])
            if price.other_prices != values["other_prices"]:
                changes.append(f"other prices {price.other_prices} → {values['other_prices']}")
            if not changes and price.origin == origin and price.retired_at is None:
                unchanged += 1
                continue
            for name, value in values.items():
                setattr(price, name, value)
            price.origin, price.retired_at, price.updated_at = origin, None, now
            to_update.append(price)
            if changes:
                changed.append(f"{price_label(row)}: {', '.join(changes)}")
            else:
                unchanged += 1
    retired = []
    for identity, price in existing.items():
        if identity not in seen and price.origin in _SOURCE_ORIGINS and price.retired_at is None:
            price.retired_at, price.updated_at = now, now
            to_update.append(price)
            retired.append(price_label(price))
    result = SourceSync(
        catalog.source,
        catalog.version,
        len(catalog.providers),
        len(catalog.models),
        added,
        changed,
        unchanged,
        retired,
        skipped,
        dry_run,
        0.0,
    )
    if dry_run:
        return replace(result, seconds=time.monotonic() - started)
    ModelPrice.objects.bulk_create(to_create, batch_size=1000)
    ModelPrice.objects.bulk_update(to_update, [*_COMPARED, "origin", "retired_at", "updated_at"], batch_size=500)
    CatalogProvider.objects.bulk_create(
        [
            CatalogProvider(
                id=p.id,
                name=p.name,
                position=p.position,
                pricing_urls=p.pricing_urls,
                provider_match=p.provider_match,
                model_match=p.model_match,
                fallback_providers=p.fallback_providers,
                origin=PriceOrigin.GENAI_PRICES,
            )
            for p in catalog.providers
        ],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=[
            "name",
            "position",
            "pricing_urls",
            "provider_match",
            "model_match",
            "fallback_providers",
            "origin",
        ],
    )
    CatalogModel.objects.bulk_create(
        [
            CatalogModel(
                provider=m.provider,
                model=m.model,
                name=m.name,
                position=m.position,
                match=m.match,
                context_window=m.context_window,
                deprecated=m.deprecated,
                price_comments=m.price_comments,
                origin=PriceOrigin.GENAI_PRICES,
            )
            for m in catalog.models
        ],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["provider", "model"],
        update_fields=["name", "position", "match", "context_window", "deprecated", "price_comments", "origin"],
    )
    seconds = time.monotonic() - started
    PriceSync.objects.create(
        source=catalog.source,
        version=catalog.version,
        by=by[:150],
        models_count=len(catalog.models),
        providers_count=len(catalog.providers),
        added=len(added),
        changed=len(changed),
        unchanged=unchanged,
        skipped=len(skipped),
        seconds=Decimal(f"{seconds:.3f}"),
    )
    forget_catalog()
    return replace(result, seconds=seconds)


def load_default_catalog_if_empty(*, by: str = "migrate") -> SourceSync | None:
    """Load the default catalog (the installed genai-prices data) into a catalog with no global prices."""
    if ModelPrice.objects.filter(project__isnull=True).exists():
        return None
    return sync_source(load_default_catalog(), by=by)
