"""The default price catalog: the data of the installed ``genai-prices`` package.

The version is pinned in ``pyproject.toml`` (``genai-prices==...``): the catalog a Costwatch
release ships is that package's bundled snapshot, read offline (see
``costwatch.pricing.sources.genai_prices``) and stored on ``migrate`` into an empty catalog, or by
``python manage.py syncprices``. Refreshing it is an operator step (a newer package, then
``syncprices``), never done at ingest.
"""

from __future__ import annotations

import functools

from costwatch.pricing.sources.genai_prices import SourceCatalog, read_catalog

# Costwatch's own (regex, catalog model id) fallbacks, tried after the source's match rules.
PATTERNS: tuple[tuple[str, str], ...] = ()


@functools.lru_cache(maxsize=1)
def load_default_catalog() -> SourceCatalog:
    """The catalog of the installed genai-prices data (read once per process; pure, offline)."""
    return read_catalog()


def catalog_patterns() -> list[tuple[str, str]]:
    """Costwatch's own ``(regex, model id)`` patterns, the last matching step (see matching.py)."""
    return list(PATTERNS)
