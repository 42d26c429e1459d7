"""Registry of bill sources: one module per provider, each exposing the same four names.

``PROVIDER``: the provider key; ``COSTWATCH_PROVIDERS``: the ``provider`` values of Costwatch calls
this bill covers; ``fetch_costs(client, key, base_url, first_day, last_day, scope_ids)`` and
``parse_csv(text)``, both returning ``list[BilledLine]`` or raising ``SourceError``.
"""

from __future__ import annotations

from types import ModuleType

from costwatch.billing.sources import anthropic, openai
from costwatch.billing.sources.base import BilledLine, SourceError

SOURCES: dict[str, ModuleType] = {module.PROVIDER: module for module in (openai, anthropic)}


def source_for(provider: str) -> ModuleType:
    try:
        return SOURCES[provider]
    except KeyError:
        raise SourceError(
            f"unknown provider {provider!r}; one of {', '.join(sorted(SOURCES))}", permanent=True
        ) from None


__all__ = ["SOURCES", "BilledLine", "SourceError", "source_for"]
