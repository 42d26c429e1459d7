"""The default price catalog shipped with Costwatch, and its JSON format.

``data/default_catalog.json`` looks like this (prices are USD per 1M tokens, written as
strings so that no float ever holds money; JSON integers are accepted too)::

    {
      "format": 1,
      "unit": "USD per 1M tokens",
      "patterns": [{"pattern": "^gpt-4-(0125|1106)-preview$", "model": "gpt-4-turbo"}],
      "models": [
        {
          "provider": "openai",
          "model": "gpt-4o",
          "context_window": 128000,
          "max_output_tokens": 16384,
          "batch_discount": "0.5",
          "source_url": "https://platform.openai.com/docs/pricing",
          "checked_on": "2025-11-30",
          "prices": [
            {"effective_from": "2024-05-13", "effective_until": "2024-10-02",
             "input": "5", "output": "15", "max_output_tokens": 4096},
            {"effective_from": "2024-10-02", "input": "2.5", "cache_read": "1.25", "output": "10"}
          ]
        }
      ]
    }

Each entry of ``prices`` becomes one ``PriceRow``: the model's fields are the defaults and
the price entry's own fields override them. Every ``PriceRow`` field except ``provider`` and
``model`` may appear at either level; dates are ISO ``YYYY-MM-DD``; ``effective_until`` is
exclusive. Unknown fields are an error, so that a typo cannot silently drop a price.
``patterns`` are ``(regex, catalog key)`` pairs for ``matching.match_model``, tried in order.
``format`` and ``unit`` are informational.

``checked_on`` is the date up to which the price is known to have held, per ``source_url``.
Rows of retired models keep their last price: it is still needed to price history.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from costwatch.pricing.cost import PriceRow

DEFAULT_CATALOG = Path(__file__).parent / "data" / "default_catalog.json"

_DATE_FIELDS = frozenset({"effective_from", "effective_until", "checked_on"})
_ROW_FIELDS = frozenset(field.name for field in fields(PriceRow)) - {"provider", "model"}
_MODEL_FIELDS = _ROW_FIELDS | {"provider", "model", "prices"}


def _field_value(name: str, value: Any, where: str) -> Any:
    if name in _DATE_FIELDS and value is not None:
        if not isinstance(value, str):
            raise ValueError(f"{where}: {name} must be an ISO date string, got {value!r}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where}: {name} is not an ISO date: {value!r}") from None
    return value


def _row(model: Mapping[str, Any], price: Mapping[str, Any], where: str) -> PriceRow:
    unknown = set(price) - _ROW_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown price fields {sorted(unknown)}")
    values = {
        name: _field_value(name, value, where)
        for name, value in {**model, **price}.items()
        if name in _ROW_FIELDS
    }
    try:
        return PriceRow(provider=model["provider"], model=model["model"], **values)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def rows_from_json(data: Mapping[str, Any]) -> list[PriceRow]:
    """Price rows of a catalog in the format above, in file order."""
    rows: list[PriceRow] = []
    for index, model in enumerate(data.get("models", ())):
        where = f"models[{index}]"
        if not isinstance(model, Mapping) or "provider" not in model or "model" not in model:
            raise ValueError(f"{where}: needs provider and model")
        where = f"{where} ({model['provider']}/{model['model']})"
        unknown = set(model) - _MODEL_FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        prices = model.get("prices")
        if not prices:
            raise ValueError(f"{where}: no prices")
        rows.extend(_row(model, price, f"{where} prices[{n}]") for n, price in enumerate(prices))
    return rows


@functools.lru_cache(maxsize=1)
def _default_catalog() -> Mapping[str, Any]:
    with DEFAULT_CATALOG.open(encoding="utf-8") as handle:
        return json.load(handle, parse_float=Decimal)


def load_default_catalog() -> list[PriceRow]:
    return rows_from_json(_default_catalog())


def catalog_patterns() -> list[tuple[str, str]]:
    return [(entry["pattern"], entry["model"]) for entry in _default_catalog().get("patterns", ())]


def describe_catalog_load(added: list[str], changed: list[str], unchanged: int) -> str:
    """One line saying what a load of the shipped catalog did: price versions, models and providers.

    ``added`` and ``changed`` are ``sync_catalog`` labels ("provider/model from date").
    """
    rows = load_default_catalog()
    models = {(r.provider, r.model) for r in rows}
    providers = sorted({r.provider for r in rows})
    newest = max((str(r.checked_on) for r in rows if getattr(r, "checked_on", None)), default="unknown")
    source = "costwatch/pricing/data/" + DEFAULT_CATALOG.name
    what = (f"{len(rows)} price versions of {len(models)} models from {len(providers)} providers "
            f"({', '.join(providers)}), USD per 1M tokens, checked up to {newest}")
    if not changed and not unchanged:
        return f"Loaded the default price catalog ({source}): {what}; {len(added)} added, 0 changed."
    return (f"Default price catalog ({source}, {what}): {len(added)} added, {len(changed)} changed, "
            f"{unchanged} already up to date.")
