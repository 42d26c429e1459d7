"""Storing the price catalog, looking up the price in force for a call, and estimating costs.

Catalog writes: ``sync_catalog`` (the shipped catalog, keyed by its own effective dates),
``import_litellm_file`` / ``set_price`` (a new dated version only when the price in force
changes), ``set_alias`` / ``remove_alias``. Reads: ``PriceBook`` and ``estimate_cost``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import BigIntegerField, CharField, DecimalField
from django.utils import timezone

from costwatch.pricing.catalog import catalog_patterns
from costwatch.pricing.cost import CallCost, PriceRow, TokenCounts, choose_price, cost_of, price_in_force
from costwatch.pricing.matching import CatalogMatcher, CatalogProviderRules, match_model
from costwatch.pricing.models import ModelAlias, ModelPrice, PriceOrigin

_ROW_FIELDS = [f.name for f in fields(PriceRow)]
MAX_TOKENS = 10**12  # token limits and thresholds beyond this are typos, not models


@dataclass(frozen=True)
class CatalogSync:
    added: list[str]
    changed: list[str]
    unchanged: int


def row_of(price: ModelPrice) -> PriceRow:
    """The pure ``PriceRow`` of a stored price."""
    return PriceRow(**{name: getattr(price, name) for name in _ROW_FIELDS})


def db_values(row: PriceRow) -> dict[str, Any]:
    """``row`` as ModelPrice column values (non-token prices as decimal strings in JSON)."""
    values = {item.name: getattr(row, item.name) for item in fields(PriceRow)}
    values["other_prices"] = {key: _plain(value) for key, value in sorted(row.other_prices.items())}
    return values


@transaction.atomic
def sync_catalog(rows: Iterable[PriceRow], *, origin: str, project=None) -> CatalogSync:  # noqa: ANN001
    """Insert or update rows keyed by (project, provider, model, tier, effective_from, daily_from). Idempotent."""
    added: list[str] = []
    changed: list[str] = []
    unchanged = 0
    for row in rows:
        values = db_values(row)
        key = {k: values.pop(k) for k in _IDENTITY}
        label = _label(row)
        existing = ModelPrice.objects.select_for_update().filter(project=project, **key).first()
        if existing is None:
            ModelPrice.objects.create(project=project, origin=PriceOrigin(origin), **key, **values)
            added.append(label)
        elif any(getattr(existing, k) != _as_stored(k, v) for k, v in values.items()):
            for k, v in values.items():
                setattr(existing, k, v)
            existing.origin = PriceOrigin(origin)
            existing.retired_at = None
            existing.save()
            changed.append(label)
        else:
            unchanged += 1
    _forget_catalog()
    return CatalogSync(added, changed, unchanged)


_IDENTITY = ("provider", "model", "service_tier", "effective_from", "daily_from")


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


@dataclass
class _GlobalCatalog:
    """The global catalog as the matcher and the price lookup need it; shared by a process."""

    revision: tuple[object, ...]
    rows: dict[tuple[str, str], list[tuple[ModelPrice, PriceRow]]]
    matcher: CatalogMatcher


_CATALOG: _GlobalCatalog | None = None


def _forget_catalog() -> None:
    global _CATALOG
    _CATALOG = None


def _revision() -> tuple[object, ...]:
    from django.db.models import Count, Max

    from costwatch.pricing.models import CatalogModel, CatalogProvider

    prices = ModelPrice.objects.filter(project__isnull=True).aggregate(n=Count("id"), last=Max("id"), at=Max("updated_at"))
    models = CatalogModel.objects.aggregate(n=Count("id"), last=Max("id"))
    return (*prices.values(), *models.values(), CatalogProvider.objects.count())


def global_catalog() -> _GlobalCatalog:
    """The global catalog (rows, match rules), loaded once per change of the stored catalog."""
    global _CATALOG
    from costwatch.pricing.models import CatalogModel, CatalogProvider

    revision = _revision()
    cached = _CATALOG
    if cached is not None and cached.revision == revision:
        return cached
    rows: dict[tuple[str, str], list[tuple[ModelPrice, PriceRow]]] = {}
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
    matcher = CatalogMatcher(providers, models, patterns=catalog_patterns())
    _CATALOG = _GlobalCatalog(revision, rows, matcher)
    return _CATALOG


class PriceBook:
    """A project's view of the catalog (its overrides and aliases first), loaded once per use.

    Matching (costwatch.pricing.matching): a project override matched exactly or through an
    alias wins; else the global catalog is searched with its match rules (``CatalogMatcher``:
    exact, alias, rule, normalized, pattern, guided by the reported provider); an override for
    the model found that way beats the global row; last, an override matched by normalization.
    The row in force and the service tier are chosen by ``cost.choose_price``.
    """

    def __init__(self, project) -> None:  # noqa: ANN001 - Project
        self._catalog = global_catalog()
        self._overrides: dict[str, list[tuple[ModelPrice, PriceRow]]] = {}
        if project is not None:
            for price in ModelPrice.objects.filter(project=project).order_by("effective_from", "id"):
                self._overrides.setdefault(price.model, []).append((price, row_of(price)))
            self._aliases = dict(ModelAlias.objects.filter(project=project).values_list("alias", "model"))
        else:
            self._aliases = {}
        self._matches: dict[tuple[str, str | None], tuple[str, list[tuple[ModelPrice, PriceRow]], str] | None] = {}

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
            self._matches[key] = self._resolve(model, provider)
        resolved = self._matches[key]
        if resolved is None:
            return None
        how, versions, _ = resolved
        choice = choose_price([row for _, row in versions], at, service_tier=service_tier)
        if choice is None:
            return None
        stored = next(
            (price for price, row in versions if row is choice.row),
            None,
        )
        if stored is None:  # a batch row derived from the standard row's discount
            standard = price_in_force([row for _, row in versions], at)
            stored = next(price for price, row in versions if row is standard)
        return PricedModel(stored, choice.row, how, choice.service_tier, choice.approximate, choice.note)

    def _resolve(self, model: str, provider: str | None):  # noqa: ANN202
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


# --- Dated versions: importprices and project overrides ---------------------------------------

# What makes two rows "the same price". Limits (context window, max output) and provenance are
# not part of it: a refresh that only restates a context window must not add a price version.
PRICE_FIELDS = (
    "input", "output", "cache_read", "cache_write", "cache_write_1h", "long_context_threshold",
    "long_input", "long_output", "long_cache_read", "long_cache_write", "long_cache_write_1h", "output_reasoning",
    "input_audio", "input_image", "input_video", "cache_read_audio", "cache_read_image",
    "output_audio", "output_image", "output_video", "batch_discount", "currency", "daily_until",
)


@dataclass(frozen=True)
class PriceChange:
    status: str  # added | changed | unchanged
    label: str
    price: ModelPrice


def _label(row: PriceRow | ModelPrice) -> str:
    tier = f" ({row.service_tier})" if row.service_tier != "standard" else ""
    hours = f" {row.daily_from:%H:%M}-{row.daily_until:%H:%M} UTC" if row.daily_from is not None else ""
    return f"{row.provider}/{row.model}{tier}{hours} from {row.effective_from}"


def _as_stored(name: str, value: object) -> object:
    """The value as the column keeps it: a price with more decimals than the column is rounded
    the way PostgreSQL rounds NUMERIC (half away from zero), so comparing stays idempotent."""
    field = ModelPrice._meta.get_field(name)
    if isinstance(value, Decimal) and getattr(field, "decimal_places", None) is not None:
        return value.quantize(Decimal(1).scaleb(-field.decimal_places), rounding=ROUND_HALF_UP)
    return value


def column_problem(row: PriceRow, *, exact: bool = False) -> str | None:
    """Why ``row`` cannot be stored as it is (too many digits, too long a name), or None.

    With ``exact`` a price with more decimals than the column keeps is a problem too (input
    from people); without, it is rounded as PostgreSQL would (imported files).
    """
    for field in ModelPrice._meta.concrete_fields:
        value = getattr(row, field.name, None) if field.name in _ROW_FIELDS else None
        if value is None:
            continue
        if isinstance(field, DecimalField):
            digits = field.max_digits - field.decimal_places
            if value >= Decimal(10) ** digits or _as_stored(field.name, value) >= Decimal(10) ** digits:
                return f"{field.name} {_plain(value)} is too large (at most {digits} digits before the point)"
            if exact and _as_stored(field.name, value) != value:
                return f"{field.name} {_plain(value)} has more than {field.decimal_places} decimal places"
        elif isinstance(field, CharField) and len(value) > field.max_length:
            return f"{field.name} is longer than {field.max_length} characters"
        elif isinstance(field, BigIntegerField) and value > MAX_TOKENS:
            return f"{field.name} {value} is too large"
    return None


def _differences(old: ModelPrice, new: PriceRow, names: Iterable[str]) -> list[str]:
    return [
        f"{name} {_plain(getattr(old, name))} → {_plain(getattr(new, name))}"
        for name in names
        if getattr(old, name) != _as_stored(name, getattr(new, name))
    ]


def _plain(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return "none" if value is None else str(value)


def _in_force(versions: Sequence[ModelPrice], day: date) -> ModelPrice | None:
    """Latest effective_from wins, as in PriceBook.price_for and cost.price_in_force."""
    chosen = None
    for price in versions:
        if price.effective_from <= day and (price.effective_until is None or day < price.effective_until):
            if chosen is None or price.effective_from >= chosen.effective_from:
                chosen = price
    return chosen


_TIER_FIELDS = ("long_context_threshold", "long_input", "long_output", "long_cache_read", "long_cache_write")
_INHERITED_FIELDS = (
    "cache_read", "cache_write", "cache_write_1h", "batch_discount", "context_window", "max_output_tokens",
    "source_url", "checked_on",
)


def _filled_from(row: PriceRow, base: ModelPrice) -> PriceRow:
    """``row`` with what it does not state taken from ``base`` (a long-context tier as a whole)."""
    missing = {
        name: getattr(base, name)
        for name in _INHERITED_FIELDS
        if getattr(row, name) in (None, "") and getattr(base, name) not in (None, "")
    }
    if row.long_context_threshold is None and base.long_context_threshold is not None:
        missing.update({name: getattr(base, name) for name in _TIER_FIELDS})
    return replace(row, **missing) if missing else row


def _set_version(
    row: PriceRow, versions: list[ModelPrice], *, origin: str, project, inherit: bool = False  # noqa: ANN001
) -> PriceChange:
    problem = column_problem(row)
    if problem:
        raise ValueError(f"{_label(row)}: {problem}")
    same_day = next((p for p in versions if p.effective_from == row.effective_from), None)
    current = same_day or _in_force(versions, row.effective_from)
    if inherit and current is not None:
        row = _filled_from(row, current)
    values = {name: _as_stored(name, value) for name, value in db_values(row).items()}
    if same_day is not None:
        changes = _differences(same_day, row, [n for n in values if n not in ("provider", "model", "other_prices")])
        if not changes:
            return PriceChange("unchanged", _label(row), same_day)
        for name, value in values.items():
            setattr(same_day, name, value)
        same_day.origin = PriceOrigin(origin)
        same_day.save()
        return PriceChange("changed", f"{_label(row)}: {', '.join(changes)}", same_day)
    if current is not None and not _differences(current, row, PRICE_FIELDS):
        return PriceChange("unchanged", _label(current), current)
    price = ModelPrice.objects.create(project=project, origin=PriceOrigin(origin), **values)
    versions.append(price)
    if current is None:
        return PriceChange("added", _label(row), price)
    return PriceChange("changed", f"{_label(row)}: {', '.join(_differences(current, row, PRICE_FIELDS))}", price)


@transaction.atomic
def set_price(row: PriceRow, *, origin: str = PriceOrigin.MANUAL, project=None) -> PriceChange:  # noqa: ANN001
    """Make ``row`` the price of its model from ``row.effective_from`` on. Idempotent.

    A row already starting that day is updated in place. Otherwise a new version is added only
    when its prices differ from the version in force that day (the latest start wins), so
    importing the same prices again — on any later day — adds nothing. Earlier versions are
    never rewritten: the calls they priced stay explainable.
    """
    versions = list(
        ModelPrice.objects.select_for_update().filter(
            project=project, provider=row.provider, model=row.model, service_tier=row.service_tier,
            daily_from=row.daily_from,
        )
    )
    return _set_version(row, versions, origin=origin, project=project)


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

    One bad entry is skipped with its reason; the rest are imported. See ``set_price`` for why
    running it again (the same day or later) changes nothing. What an entry does not state (no
    cache or batch price, no long-context tier, no limits) is kept from the version in force:
    LiteLLM leaving a field out means it does not say, not that the price is gone.
    """
    from costwatch.pricing.litellm import parse_litellm

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
        change = _set_version(
            row, versions.setdefault((row.provider, row.model), []), origin=PriceOrigin.LITELLM, project=None,
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
_COMPARED = [f.name for f in fields(PriceRow) if f.name not in _IDENTITY]


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
    import time as _time

    from costwatch.pricing.models import CatalogModel, CatalogProvider, PriceSync

    started = _time.monotonic()
    existing = {
        tuple(getattr(price, name) for name in _IDENTITY): price
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
            identity = tuple(values[name] for name in _IDENTITY)
            seen.add(identity)
            price = existing.get(identity)
            if price is None:
                to_create.append(ModelPrice(project=None, origin=origin, created_at=now, updated_at=now, **values))
                added.append(_label(row))
                continue
            differences = _differences(price, row, [n for n in _COMPARED if n != "other_prices"])
            if price.other_prices != values["other_prices"]:
                differences.append(f"other prices {price.other_prices} → {values['other_prices']}")
            if not differences and price.origin == origin and price.retired_at is None:
                unchanged += 1
                continue
            for name, value in values.items():
                setattr(price, name, value)
            price.origin, price.retired_at, price.updated_at = origin, None, now
            to_update.append(price)
            if differences:
                changed.append(f"{_label(row)}: {', '.join(differences)}")
            else:
                unchanged += 1
    retired = []
    for identity, price in existing.items():
        if identity not in seen and price.origin in _SOURCE_ORIGINS and price.retired_at is None:
            price.retired_at, price.updated_at = now, now
            to_update.append(price)
            retired.append(_label(price))
    result = SourceSync(
        catalog.source, catalog.version, len(catalog.providers), len(catalog.models), added, changed, unchanged,
        retired, skipped, dry_run, 0.0,
    )
    if dry_run:
        return replace(result, seconds=_time.monotonic() - started)
    ModelPrice.objects.bulk_create(to_create, batch_size=1000)
    ModelPrice.objects.bulk_update(
        to_update, [*_COMPARED, "origin", "retired_at", "updated_at"], batch_size=500
    )
    CatalogProvider.objects.bulk_create(
        [
            CatalogProvider(
                id=p.id, name=p.name, position=p.position, pricing_urls=p.pricing_urls,
                provider_match=p.provider_match, model_match=p.model_match,
                fallback_providers=p.fallback_providers, origin=PriceOrigin.GENAI_PRICES,
            )
            for p in catalog.providers
        ],
        update_conflicts=True, unique_fields=["id"],
        update_fields=["name", "position", "pricing_urls", "provider_match", "model_match", "fallback_providers", "origin"],
    )
    CatalogModel.objects.bulk_create(
        [
            CatalogModel(
                provider=m.provider, model=m.model, name=m.name, position=m.position, match=m.match,
                context_window=m.context_window, deprecated=m.deprecated, price_comments=m.price_comments,
                origin=PriceOrigin.GENAI_PRICES,
            )
            for m in catalog.models
        ],
        batch_size=1000, update_conflicts=True, unique_fields=["provider", "model"],
        update_fields=["name", "position", "match", "context_window", "deprecated", "price_comments", "origin"],
    )
    seconds = _time.monotonic() - started
    PriceSync.objects.create(
        source=catalog.source, version=catalog.version, by=by[:150], models_count=len(catalog.models),
        providers_count=len(catalog.providers), added=len(added), changed=len(changed), unchanged=unchanged,
        skipped=len(skipped), seconds=Decimal(f"{seconds:.3f}"),
    )
    _forget_catalog()
    return replace(result, seconds=seconds)


def load_default_catalog_if_empty(*, by: str = "migrate") -> SourceSync | None:
    """Load the default catalog (the installed genai-prices data) into a catalog with no global prices."""
    from costwatch.pricing.catalog import load_default_catalog

    if ModelPrice.objects.filter(project__isnull=True).exists():
        return None
    return sync_source(load_default_catalog(), by=by)


# --- Validating prices and aliases sent by people (API) -----------------------------------------

class PriceInputError(ValueError):
    """A price or alias sent by a person is invalid; the message says which field and why."""


_MONEY_INPUT = (
    "input", "output", "cache_read", "cache_write", "cache_write_1h",
    "long_input", "long_output", "long_cache_read", "long_cache_write", "long_cache_write_1h", "output_reasoning",
    "input_audio", "input_image", "input_video", "cache_read_audio", "cache_read_image",
    "output_audio", "output_image", "output_video", "batch_discount",
)
_INT_INPUT = ("long_context_threshold", "context_window", "max_output_tokens")
_DATE_INPUT = ("effective_from", "effective_until", "checked_on")
_TEXT_INPUT = {"provider": 64, "model": 200, "currency": 3, "source_url": 500, "service_tier": 16}
PRICE_INPUT_FIELDS = frozenset(f.name for f in fields(PriceRow)) - {"other_prices", "daily_from", "daily_until"}


def price_row_from_input(data: Any) -> PriceRow:
    """A ``PriceRow`` from a JSON object, or ``PriceInputError`` naming the bad field.

    Prices are decimal strings (``"2.5"``) or integers; JSON floats are refused because they
    are not exact. Dates are ``YYYY-MM-DD``. Omitting ``effective_from`` means "since ever".
    """
    if not isinstance(data, Mapping):
        raise PriceInputError("send a JSON object")
    unknown = set(data) - PRICE_INPUT_FIELDS
    if unknown:
        raise PriceInputError(
            f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(PRICE_INPUT_FIELDS))}"
        )
    for name in ("provider", "model", "input", "output"):
        if data.get(name) in (None, ""):
            raise PriceInputError(f"{name} is required")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if value is None:
            continue
        if name in _TEXT_INPUT:
            if not isinstance(value, str) or not value.strip():
                raise PriceInputError(f"{name} must be a non-empty string")
            value = value.strip()
            if len(value) > _TEXT_INPUT[name]:
                raise PriceInputError(f"{name} is longer than {_TEXT_INPUT[name]} characters")
        elif name in _MONEY_INPUT:
            if isinstance(value, float):
                raise PriceInputError(f'{name}: send prices as decimal strings such as "2.5" (floats are not exact)')
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise PriceInputError(f"{name} must be a decimal string such as \"2.5\"")
        elif name in _INT_INPUT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PriceInputError(f"{name} must be a whole number of tokens")
            if value > MAX_TOKENS:
                raise PriceInputError(f"{name} must be at most {MAX_TOKENS} tokens")
        elif name in _DATE_INPUT:
            try:
                value = date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                value = None
            if value is None:
                raise PriceInputError(f"{name} must be a date YYYY-MM-DD")
        values[name] = value
    if "currency" in values:
        if len(values["currency"]) != 3 or not values["currency"].isalpha():
            raise PriceInputError("currency must be a three-letter code such as USD")
        values["currency"] = values["currency"].upper()
    values["model"] = values["model"].lower()
    try:
        row = PriceRow(**values)
    except (TypeError, ValueError) as exc:
        raise PriceInputError(str(exc)) from None
    problem = column_problem(row, exact=True)
    if problem:
        raise PriceInputError(problem)
    return row


@transaction.atomic
def set_alias(project, alias: str, model: str) -> tuple[ModelAlias, bool]:  # noqa: ANN001 - Project
    """Map the project's own model name to a catalog key. Returns (alias, created)."""
    alias = (alias or "").strip() if isinstance(alias, str) else ""
    model = (model or "").strip() if isinstance(model, str) else ""
    if not alias or not model:
        raise PriceInputError("alias and model are both required (non-empty strings)")
    if len(alias) > 200 or len(model) > 200:
        raise PriceInputError("alias and model are at most 200 characters")
    known = set(ModelPrice.objects.filter(project__isnull=True).values_list("model", flat=True))
    known |= set(ModelPrice.objects.filter(project=project).values_list("model", flat=True))
    if model not in known:
        guess = match_model(model, known) or global_catalog().matcher.match(model)
        hint = f"; did you mean {guess.key!r}?" if guess else "; add a price for it first (POST /api/v1/prices)"
        raise PriceInputError(f"{model!r} is not a catalog model{hint}")
    if alias == model:
        raise PriceInputError("an alias must differ from the model it stands for")
    return ModelAlias.objects.update_or_create(project=project, alias=alias, defaults={"model": model})


def remove_alias(project, alias: str) -> bool:  # noqa: ANN001 - Project
    deleted, _ = ModelAlias.objects.filter(project=project, alias=alias).delete()
    return deleted > 0


# --- Pre-flight estimate ------------------------------------------------------------------------

MAX_ESTIMATE_MODELS = 20
MAX_OUTPUT_TOKENS = 10_000_000


class EstimateError(ValueError):
    """The estimate request is invalid; the message says why."""


@dataclass(frozen=True)
class ModelEstimate:
    model: str
    input_tokens: int
    output_tokens: int
    encoding: str
    approximate: bool
    priced: PricedModel | None
    cost: CallCost | None
    context_window: int | None
    max_output_tokens: int | None
    problems: list[str]

    @property
    def fits(self) -> bool | None:
        """Whether prompt and expected output fit the model; None when its limits are unknown."""
        if self.problems:
            return False
        return None if self.context_window is None else True


def _check_messages(messages: Any) -> list[Mapping[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise EstimateError("messages must be a non-empty list of {role, content} objects")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise EstimateError(f"messages[{index}] must be an object with a string role")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise EstimateError(f"messages[{index}].content must be a string or a list of parts")
    return messages


def _check_models(models: Any) -> list[str]:
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not models:
        raise EstimateError("models must be a non-empty list of model names")
    if len(models) > MAX_ESTIMATE_MODELS:
        raise EstimateError(f"at most {MAX_ESTIMATE_MODELS} models per estimate")
    names: list[str] = []
    for model in models:
        if not isinstance(model, str) or not model.strip() or len(model) > 200:
            raise EstimateError("every model must be a non-empty name of at most 200 characters")
        if model.strip() not in names:
            names.append(model.strip())
    return names


def _limits_problems(model: str, prompt: int, output: int, row: PriceRow | None) -> list[str]:
    if row is None:
        return []
    problems = []
    if row.context_window is not None:
        if prompt > row.context_window:
            problems.append(
                f"the prompt ({prompt} tokens) is longer than {model}'s context window ({row.context_window} tokens)"
            )
        elif prompt + output > row.context_window:
            problems.append(
                f"the prompt ({prompt} tokens) plus the expected output ({output} tokens) exceed "
                f"{model}'s context window ({row.context_window} tokens)"
            )
    if row.max_output_tokens is not None and output > row.max_output_tokens:
        problems.append(
            f"the expected output ({output} tokens) exceeds {model}'s maximum output ({row.max_output_tokens} tokens)"
        )
    return problems


MAX_COMPARED = 200
MODALITIES = ("text", "audio", "image", "video")


@dataclass(frozen=True)
class CompareFilters:
    """Which catalog models an estimate compares: all that fit the prompt, narrowed by these."""

    providers: tuple[str, ...] = ()
    min_context_window: int | None = None
    modality: str = "text"
    include_free: bool = False
    limit: int = 50


def compare_filters(data: Any) -> CompareFilters:
    """``CompareFilters`` from the estimate request's ``compare`` object; ``EstimateError`` if invalid."""
    if data is True:
        return CompareFilters()
    if not isinstance(data, Mapping):
        raise EstimateError("compare must be true or an object {providers, min_context_window, modality, limit}")
    unknown = set(data) - {"providers", "min_context_window", "modality", "include_free", "limit"}
    if unknown:
        raise EstimateError(f"unknown compare field(s) {', '.join(sorted(unknown))}")
    providers = data.get("providers", [])
    if isinstance(providers, str):
        providers = [providers]
    if not isinstance(providers, list) or not all(isinstance(p, str) and p.strip() for p in providers):
        raise EstimateError("compare.providers must be a list of provider ids (e.g. [\"openai\", \"anthropic\"])")
    window = data.get("min_context_window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= MAX_TOKENS):
        raise EstimateError("compare.min_context_window must be a positive whole number of tokens")
    modality = data.get("modality", "text")
    if modality not in MODALITIES:
        raise EstimateError(f"compare.modality must be one of {', '.join(MODALITIES)}")
    include_free = data.get("include_free", False)
    if not isinstance(include_free, bool):
        raise EstimateError("compare.include_free must be true or false")
    limit = data.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_COMPARED:
        raise EstimateError(f"compare.limit must be between 1 and {MAX_COMPARED}")
    return CompareFilters(tuple(p.strip() for p in providers), window, modality, include_free, limit)


def _compared_models(filters: CompareFilters, at: datetime, prompt_and_output: int) -> tuple[list[tuple[str, str]], int]:
    """(provider, model) of every catalog model that fits the filters and the prompt; and how many."""
    wanted = set(filters.providers)
    chosen = []
    for (provider, model), versions in global_catalog().rows.items():
        if wanted and provider not in wanted:
            continue
        row = price_in_force([row for _, row in versions], at)
        if row is None or row.context_window is None or row.context_window < prompt_and_output:
            continue
        if filters.min_context_window is not None and row.context_window < filters.min_context_window:
            continue
        if filters.modality != "text" and getattr(row, f"input_{filters.modality}") is None:
            continue
        if not filters.include_free and row.input == 0 and row.output == 0:
            continue
        chosen.append((provider, model))
    return sorted(chosen), len(chosen)


def _cheapest_first(estimate: ModelEstimate) -> tuple[int, Decimal, str]:
    return (0, estimate.cost.total, estimate.model) if estimate.cost is not None else (1, Decimal(0), "")


def estimate_cost(
    project,  # noqa: ANN001 - Project
    *,
    models: Any = None,
    output_tokens: Any = 0,
    messages: Any = None,
    text: Any = None,
    at: datetime | None = None,
    compare: Any = None,
) -> list[ModelEstimate]:
    """Tokens, cost and context-window check of one prompt per model, cheapest first, with the project's prices.

    The prompt is ``messages`` (chat, counted with the chat framing) or ``text``. Token counts
    are exact for OpenAI models and ``approximate`` otherwise (see tokenizer.py). A model with no
    price comes back with ``priced`` and ``cost`` None: unpriced, never $0, listed after the
    priced ones (which are ordered by total cost, USD, ascending). ``compare`` (``True`` or a
    ``CompareFilters``-shaped object) adds every catalog model whose standard price is in force,
    whose context window is known and holds prompt plus output, and that passes the filters
    (providers, min_context_window, modality: has a price for that input modality; free models
    only with include_free); the cheapest ``limit`` of them are returned beside ``models``.
    """
    from costwatch.pricing.tokenizer import count_messages, count_text, encoding_name_for

    if (messages is None) == (text is None):
        raise EstimateError("send either messages (a chat) or text, not both and not neither")
    if messages is not None:
        messages = _check_messages(messages)
    elif not isinstance(text, str):
        raise EstimateError("text must be a string")
    filters = compare_filters(compare) if compare not in (None, False) else None
    names = _check_models(models) if (models is not None or filters is None) else []
    if isinstance(output_tokens, bool) or not isinstance(output_tokens, int):
        raise EstimateError("output_tokens must be a whole number")
    if not 0 <= output_tokens <= MAX_OUTPUT_TOKENS:
        raise EstimateError(f"output_tokens must be between 0 and {MAX_OUTPUT_TOKENS}")
    at = at or timezone.now()
    book = PriceBook(project)
    counts: dict[str, Any] = {}

    def counted_for(model: str):  # noqa: ANN202 - one count per encoding, not per model
        encoding, _ = encoding_name_for(model)
        if encoding not in counts:
            counts[encoding] = count_messages(model, messages) if messages is not None else count_text(model, text)
        found = counts[encoding]
        return replace(found, approximate=encoding_name_for(model)[1])

    def estimate(model: str, provider: str | None = None) -> ModelEstimate:
        counted = counted_for(model)
        priced = book.price_for(model, at, provider=provider)
        row = priced.row if priced else None
        cost = cost_of(TokenCounts(input=counted.tokens, output=output_tokens), row) if row else None
        return ModelEstimate(
            model=model,
            input_tokens=counted.tokens,
            output_tokens=output_tokens,
            encoding=counted.encoding,
            approximate=counted.approximate,
            priced=priced,
            cost=cost,
            context_window=row.context_window if row else None,
            max_output_tokens=row.max_output_tokens if row else None,
            problems=_limits_problems(model, counted.tokens, output_tokens, row),
        )

    estimates = [estimate(model) for model in names]
    if filters is not None:
        prompt = counted_for("gpt-4o").tokens
        compared, _ = _compared_models(filters, at, prompt + output_tokens)
        listed = {(e.priced.price.provider, e.priced.price.model) for e in estimates if e.priced}
        extra = [estimate(model, provider) for provider, model in compared if (provider, model) not in listed]
        extra = [e for e in extra if e.cost is not None and not e.problems]
        estimates += sorted(extra, key=_cheapest_first)[: filters.limit]
    return sorted(estimates, key=_cheapest_first)


# --- Reading the catalog for people (pricing page) ----------------------------------------------

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
    from costwatch.pricing.models import PriceSync

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
    from django.db.models import Q

    from costwatch.pricing.models import CatalogModel

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
        standard = [(p, row_of(p)) for p in prices if p.service_tier == "standard"]
        chosen = price_in_force([row for _, row in standard], at)
        current = next((p for p, row in standard if row is chosen), None)
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
    from costwatch.pricing.models import CatalogModel

    prices = list(
        ModelPrice.objects.filter(project__isnull=True, provider=provider, model=model)
        .order_by("service_tier", "effective_from", "daily_from", "id")
    )
    if not prices:
        return None
    entry = CatalogModel.objects.filter(provider=provider, model=model).first()
    return ModelHistory(provider, model, entry.name if entry else "", entry.match if entry else None, prices)
