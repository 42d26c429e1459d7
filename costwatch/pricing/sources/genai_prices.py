"""Costwatch's price catalog from the installed ``genai-prices`` package (Pydantic, MIT).

``genai-prices`` describes providers and models with Decimal prices per million tokens
(``input_mtok``, ``output_mtok``, ``cache_read_mtok``, ``cache_write_mtok``,
``cache_write_1h_mtok``, modality prices such as ``input_audio_mtok``), optionally as
``TieredPrices`` (a "cliff": above ``start`` prompt tokens the tier price applies to the whole
call), a price history as ``ConditionalPrice`` entries (``StartDateConstraint``: from a date;
``TimeOfDateConstraint``: a daily UTC window such as DeepSeek's off-peak hours; the last active
entry wins, the first one applies when none is active), ``price_variants`` selected by request
context (``{"processing": "batch"}``, ``{"service_tier": "flex"}``, ``{"speed": "fast"}``), and
match clauses for provider and model ids.

``read_catalog()`` turns that data into Costwatch's stored form: one ``PriceRow`` per
(provider, model, service tier, period, daily window). Each row's prices are what the
package's own ``ModelInfo.get_prices`` returns for a moment in that period, so a row prices a
call exactly as ``genai_prices.calc_price`` would. Consecutive periods with equal prices are
one row. A tier row exists only where the source has a variant for that tier (elsewhere a call
of that tier falls back to the standard row, marked approximate: see cost.choose_price).

What a row cannot hold is reported in ``SourceCatalog.skipped`` with the reason, never guessed:
models priced only per audio hour, character or page; more than one price tier; variants that
are no service tier (``route``, ``search_type``). Prices in other units next to token prices
(web searches, ...) are kept in ``PriceRow.other_prices`` for display.

History the source does not carry (``gpt-4o`` cost $5 / $15 until 2024-10-02) comes from
``data/price_history.json``: closed periods before the source's first dated price, each with
its published source; they never override a price of the source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from costwatch.pricing.cost import STANDARD, PriceRow

SOURCE = "genai-prices"
SINCE_EVER = date(2020, 1, 1)
HISTORY_FILE = Path(__file__).resolve().parent.parent / "data" / "price_history.json"

# genai-prices price key → PriceRow field (token prices per 1M tokens).
_TOKEN_KEYS: Mapping[str, str] = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_5m_mtok": "cache_write",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_reasoning_mtok": "output_reasoning",
    "input_audio_mtok": "input_audio",
    "input_image_mtok": "input_image",
    "input_video_mtok": "input_video",
    "cache_audio_read_mtok": "cache_read_audio",
    "cache_image_read_mtok": "cache_read_image",
    "output_audio_mtok": "output_audio",
    "output_image_mtok": "output_image",
    "output_video_mtok": "output_video",
}
# Fields that may carry a long-context tier, and the PriceRow field of the tier price.
_LONG_FIELDS: Mapping[str, str] = {
    "input": "long_input",
    "output": "long_output",
    "cache_read": "long_cache_read",
    "cache_write": "long_cache_write",
    "cache_write_1h": "long_cache_write_1h",
}
# Request context of a variant → Costwatch service tier. ``service_tier: default`` is standard.
_TIER_CONTEXT: Mapping[tuple[str, str], str | None] = {
    ("processing", "batch"): "batch",
    ("service_tier", "flex"): "flex",
    ("service_tier", "priority"): "priority",
    ("service_tier", "fast"): "fast",
    ("speed", "fast"): "fast",
    ("service_tier", "default"): None,
    ("service_tier", "standard"): None,
}


@dataclass(frozen=True)
class SourceProvider:
    id: str
    name: str
    position: int
    pricing_urls: list[str]
    provider_match: dict[str, Any] | None
    model_match: dict[str, Any] | None
    fallback_providers: list[str]


@dataclass(frozen=True)
class SourceModel:
    provider: str
    model: str
    name: str
    position: int
    match: dict[str, Any] | None
    context_window: int | None
    deprecated: bool
    price_comments: str


@dataclass(frozen=True)
class SourceCatalog:
    """Everything the source says, in Costwatch's terms; see the module docstring."""

    source: str
    version: str
    providers: list[SourceProvider]
    models: list[SourceModel]
    rows: list[PriceRow]
    history: list[PriceRow] = field(default_factory=list)  # from price_history.json
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (provider/model, reason)


class SourceError(ValueError):
    """The installed source cannot be read at all (missing package, unknown data shape)."""


class _Unstorable(ValueError):
    pass


def installed_version() -> str:
    """The installed ``genai-prices`` version (e.g. ``"0.2.3"``); ``SourceError`` when missing."""
    try:
        return version("genai-prices")
    except PackageNotFoundError:
        raise SourceError("the genai-prices package is not installed (pip install genai-prices)") from None


def clause_json(clause: Any) -> dict[str, Any] | None:
    """A genai-prices match clause as JSON in the source's own YAML shape (``{"or": [...]}``)."""
    if clause is None:
        return None
    for attr, key in (("or_", "or"), ("and_", "and")):
        if hasattr(clause, attr):
            return {key: [clause_json(part) for part in getattr(clause, attr)]}
    for key in ("equals", "starts_with", "ends_with", "contains", "regex"):
        if hasattr(clause, key):
            return {key: getattr(clause, key)}
    raise SourceError(f"unknown match clause {type(clause).__name__}")


def _utc_time(value: time) -> time:
    if value.tzinfo is None:
        return value
    return datetime.combine(date(2000, 1, 1), value).astimezone(UTC).time()


def _entries(model: Any) -> list[tuple[Any, Any]]:
    from genai_prices.types import ModelPrice

    if isinstance(model.prices, ModelPrice):
        return [(None, model.prices)]
    return [(entry.constraint, entry.prices) for entry in model.prices]


def _row_fields(prices: Any) -> dict[str, Any]:
    """PriceRow fields of one resolved genai-prices ``ModelPrice``; ``_Unstorable`` if it does not fit."""
    from genai_prices.types import TieredPrices

    values: dict[str, Any] = {}
    other: dict[str, Decimal] = {}
    threshold: int | None = None
    for key, value in prices.__dict__.items():
        if key.startswith("_") or value is None:
            continue
        name = _TOKEN_KEYS.get(key)
        if name is None:
            other[key] = value.base if isinstance(value, TieredPrices) else value
            continue
        if name in values and values[name] != (value.base if isinstance(value, TieredPrices) else value):
            raise _Unstorable(f"{key} differs from another price of the same part")
        if isinstance(value, TieredPrices):
            if len(value.tiers) != 1:
                raise _Unstorable(f"{key} has {len(value.tiers)} price tiers; a price row holds one")
            if name not in _LONG_FIELDS:
                raise _Unstorable(f"{key} has a price tier; a price row has none for that part")
            (tier,) = value.tiers
            if threshold is not None and tier.start != threshold:
                raise _Unstorable("price tiers start at different prompt sizes")
            threshold = tier.start
            values[name] = value.base
            values[_LONG_FIELDS[name]] = tier.price
        else:
            values[name] = value
    if not values and other:
        units = ", ".join(sorted(other))
        raise _Unstorable(f"priced per {units}, not per token")
    # The source charges nothing for a part it gives no price (an embedding's output, a free model).
    values.setdefault("input", Decimal(0))
    values.setdefault("output", Decimal(0))
    if threshold is not None:
        values["long_context_threshold"] = threshold
    values["other_prices"] = other
    return values


def _tiers(model: Any, label: str, skipped: list[tuple[str, str]]) -> dict[str, list[Any]]:
    """Service tier → the model's variants for it, in the source's order."""
    tiers: dict[str, list[Any]] = {}
    for variant in model.price_variants or ():
        items = tuple(variant.when.items())
        tier = _TIER_CONTEXT.get(items[0]) if len(items) == 1 else None
        if len(items) == 1 and items[0] in _TIER_CONTEXT and tier is None:
            continue  # service_tier=default: the standard price
        if tier is None:
            context = ", ".join(f"{k}={v}" for k, v in items)
            reason = f"price variant {context} is no service tier; not stored"
            if (label, reason) not in skipped:
                skipped.append((label, reason))
            continue
        tiers.setdefault(tier, []).append(variant)
    return tiers


def _constraint_dates_and_windows(model: Any) -> tuple[list[date], list[tuple[time, time]]]:
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    constraints = [constraint for constraint, _ in _entries(model)]
    constraints += [variant.constraint for variant in model.price_variants or ()]
    dates = {SINCE_EVER}
    windows: list[tuple[time, time]] = []
    for constraint in constraints:
        if isinstance(constraint, StartDateConstraint):
            dates.add(constraint.start_date)
        elif isinstance(constraint, TimeOfDateConstraint):
            window = (_utc_time(constraint.start_time), _utc_time(constraint.end_time))
            if window not in windows:
                windows.append(window)
    first = min(dates)
    return sorted(dates if first >= SINCE_EVER else dates - {SINCE_EVER}), windows


def _inside(moment: time, window: tuple[time, time]) -> bool:
    start, end = window
    return start <= moment < end if start < end else (moment >= start or moment < end)


def _outside_every_window(windows: Sequence[tuple[time, time]]) -> time:
    for candidate in (time(0), *(end for _, end in windows)):
        if not any(_inside(candidate, window) for window in windows):
            return candidate
    return time(0)


def _model_rows(provider: Any, model: Any, *, source_url: str, skipped: list[tuple[str, str]]) -> list[PriceRow]:
    label = f"{provider.id}/{model.id}"
    dates, windows = _constraint_dates_and_windows(model)
    tiers = _tiers(model, label, skipped)
    slots: list[tuple[time, time] | None] = [None, *windows]
    outside = _outside_every_window(windows)
    # (tier, slot) → per date interval the row fields, or None where no row applies.
    plan: dict[tuple[str, tuple[time, time] | None], list[dict[str, Any] | None]] = {}
    for tier in (STANDARD, *tiers):
        context = dict(tiers[tier][0].when) if tier != STANDARD else None
        for slot in slots:
            fields_per_interval: list[dict[str, Any] | None] = []
            for index, start in enumerate(dates):
                moment = datetime.combine(start, slot[0] if slot else outside, tzinfo=UTC)
                if tier != STANDARD and not any(
                    variant.constraint is None or variant.constraint.active(moment) for variant in tiers[tier]
                ):
                    fields_per_interval.append(None)
                    continue
                values: dict[str, Any] | None = _row_fields(model.get_prices(moment, context))
                if slot is not None and values == plan[(tier, None)][index]:
                    values = None  # the window changes nothing in this period
                fields_per_interval.append(values)
            plan[(tier, slot)] = fields_per_interval
    rows: list[PriceRow] = []
    for (tier, slot), per_interval in plan.items():
        index = 0
        while index < len(dates):
            values = per_interval[index]
            if values is None:
                index += 1
                continue
            end = index + 1
            while end < len(dates) and per_interval[end] == values:
                end += 1
            rows.append(
                PriceRow(
                    provider=provider.id,
                    model=model.id,
                    service_tier=tier,
                    daily_from=slot[0] if slot else None,
                    daily_until=slot[1] if slot else None,
                    effective_from=dates[index],
                    effective_until=dates[end] if end < len(dates) else None,
                    context_window=model.context_window,
                    source_url=source_url,
                    **values,
                )
            )
            index = end
    return rows


def read_catalog(providers: Iterable[Any] | None = None, *, source_version: str | None = None) -> SourceCatalog:
    """The catalog of the installed genai-prices data (or of ``providers``, its ``Provider`` objects).

    Pure: reads the package's bundled snapshot, never the network. One model that cannot be
    stored is skipped with its reason; the rest are read. ``SourceError`` when the package is
    missing or its data has a shape this module does not know.
    """
    if providers is None:
        try:
            from genai_prices.data import providers as bundled
        except ImportError:
            raise SourceError("the genai-prices package is not installed (pip install genai-prices)") from None
        providers = bundled
    version_ = source_version or installed_version()
    source_providers: list[SourceProvider] = []
    models: list[SourceModel] = []
    rows: list[PriceRow] = []
    skipped: list[tuple[str, str]] = []
    for position, provider in enumerate(providers):
        urls = list(provider.pricing_urls or [])
        source_providers.append(
            SourceProvider(
                id=provider.id,
                name=provider.name,
                position=position,
                pricing_urls=urls,
                provider_match=clause_json(provider.provider_match),
                model_match=clause_json(provider.model_match),
                fallback_providers=list(provider.fallback_model_providers or []),
            )
        )
        for model_position, model in enumerate(provider.models):
            label = f"{provider.id}/{model.id}"
            try:
                model_rows = _model_rows(provider, model, source_url=urls[0] if urls else "", skipped=skipped)
            except (_Unstorable, TypeError, ValueError) as exc:
                skipped.append((label, str(exc)))
                continue
            rows.extend(model_rows)
            models.append(
                SourceModel(
                    provider=provider.id,
                    model=model.id,
                    name=model.name or "",
                    position=model_position,
                    match=clause_json(model.match),
                    context_window=model.context_window,
                    deprecated=bool(model.deprecated),
                    price_comments=model.price_comments or "",
                )
            )
    history, history_skipped = _history(rows)
    return SourceCatalog(
        source=SOURCE,
        version=version_,
        providers=source_providers,
        models=models,
        rows=_after_history(rows, history),
        history=history,
        skipped=skipped + history_skipped,
    )


def read_history(path: Path = HISTORY_FILE) -> list[PriceRow]:
    """Rows of ``price_history.json``: closed periods the source does not carry, each with its source."""
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle, parse_float=Decimal)
    rows: list[PriceRow] = []
    for index, entry in enumerate(data.get("prices", ())):
        where = f"{path.name} prices[{index}]"
        values = dict(entry)
        for name in ("effective_from", "effective_until"):
            if not isinstance(values.get(name), str):
                raise SourceError(f"{where}: {name} is required (a closed period, YYYY-MM-DD)")
            values[name] = date.fromisoformat(values[name])
        if not values.get("source_url"):
            raise SourceError(f"{where}: source_url is required (where the price was published)")
        try:
            rows.append(PriceRow(**values))
        except (TypeError, ValueError) as exc:
            raise SourceError(f"{where}: {exc}") from None
    return rows


def _history(rows: Sequence[PriceRow]) -> tuple[list[PriceRow], list[tuple[str, str]]]:
    """History rows that fit before the source's first dated price of their model."""
    first: dict[tuple[str, str], PriceRow] = {}
    for row in rows:
        if row.service_tier == STANDARD and row.daily_from is None and row.effective_from == SINCE_EVER:
            first[(row.provider, row.model)] = row
    kept: list[PriceRow] = []
    skipped: list[tuple[str, str]] = []
    for row in read_history():
        assert row.effective_until is not None  # read_history() requires a closed period
        label = f"{row.provider}/{row.model}"
        source_row = first.get((row.provider, row.model))
        if source_row is None:
            skipped.append((label, "history entry for a model the source does not price since ever"))
        elif source_row.effective_until is not None and row.effective_until > source_row.effective_until:
            skipped.append((label, f"history until {row.effective_until} overlaps the source's own dated prices"))
        else:
            kept.append(replace(row, context_window=row.context_window or source_row.context_window))
    return kept, skipped


def _after_history(rows: list[PriceRow], history: Sequence[PriceRow]) -> list[PriceRow]:
    """The source's "since ever" row of a model with history starts where the history ends."""
    ends: dict[tuple[str, str], date] = {}
    for row in history:
        assert row.effective_until is not None  # read_history() requires a closed period
        key = (row.provider, row.model)
        ends[key] = max(ends.get(key, row.effective_until), row.effective_until)
    result = []
    for row in rows:
        end = ends.get((row.provider, row.model))
        if end is not None and row.effective_from == SINCE_EVER and row.service_tier == STANDARD:
            row = replace(row, effective_from=end)
        result.append(row)
    return result
