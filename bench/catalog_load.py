"""Loading the default catalog (genai-prices) and looking prices up in it.

    createdb -h 127.0.0.1 -U postgres catalogbench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalogbench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/catalogbench .venv/bin/python bench/catalog_load.py

Measures, in this order: reading the installed package into rows (pure), storing them into an
empty catalog (what ``migrate`` does on a fresh database; done inside a transaction that is rolled
back, so the database keeps its catalog), a second sync that changes nothing (``syncprices``),
building the process-wide catalog index cold and warm (``PriceBook``), and price lookups of a mix
of current, Bedrock, Vertex, Azure, router and fine-tune ids.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from _django import setup

IDS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:org::abc"),
    ("anthropic", "claude-sonnet-4-5"),
    ("aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("gcp.vertex_ai", "claude-sonnet-4-5@20250929"),
    ("az.ai.openai", "gpt-4o"),
    (None, "openai/gpt-4o"),
    ("gcp.gemini", "models/gemini-2.5-flash"),
    ("xai", "grok-4"),
    ("deepseek", "deepseek-chat"),
    ("mistral_ai", "mistral-large-latest"),
    (None, "no-such-model"),
]


def main() -> None:
    setup()
    from django.db import transaction

    from costwatch.pricing.imports import sync_source
    from costwatch.pricing.models import ModelPrice
    from costwatch.pricing.pricebook import PriceBook, forget_catalog
    from costwatch.pricing.sources.genai_prices import read_catalog

    started = time.perf_counter()
    catalog = read_catalog()
    print(
        f"read genai-prices {catalog.version}: {len(catalog.models)} models, {len(catalog.rows)} rows "
        f"in {time.perf_counter() - started:.2f} s"
    )

    with transaction.atomic():
        sid = transaction.savepoint()
        from costwatch.usage.models import LlmCall

        if not LlmCall.objects.exists():
            ModelPrice.objects.filter(project__isnull=True).delete()
            started = time.perf_counter()
            result = sync_source(catalog, by="bench")
            print(f"store into an empty catalog: {len(result.added)} rows in {time.perf_counter() - started:.2f} s")
        transaction.savepoint_rollback(sid)
        transaction.set_rollback(True)

    started = time.perf_counter()
    result = sync_source(catalog, by="bench", dry_run=True)
    print(f"sync that changes nothing (dry run): {result.unchanged} kept in {time.perf_counter() - started:.2f} s")

    forget_catalog()
    started = time.perf_counter()
    book = PriceBook(None)
    print(f"catalog index, cold: {(time.perf_counter() - started) * 1000:.0f} ms")
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        PriceBook(None)
        timings.append(time.perf_counter() - started)
    print(f"catalog index, warm (version check only): median {statistics.median(timings) * 1000:.1f} ms")

    at = datetime.now(UTC)
    started = time.perf_counter()
    for provider, model in IDS:
        book.price_for(model, at, provider=provider)
    first = time.perf_counter() - started
    started = time.perf_counter()
    rounds = 2000
    for _ in range(rounds):
        for provider, model in IDS:
            book.price_for(model, at, provider=provider)
    per = (time.perf_counter() - started) / (rounds * len(IDS))
    print(
        f"first lookup of {len(IDS)} ids (matching): {first * 1000:.1f} ms; "
        f"then {per * 1e6:.1f} µs per lookup (matches cached per book)"
    )


if __name__ == "__main__":
    main()
