from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from costwatch.pricing.catalog import load_default_catalog
from costwatch.pricing.imports import sync_source


class Command(BaseCommand):
    help = "Load (or update) the default catalog: the installed genai-prices data. Same as `syncprices`."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sync_source(load_default_catalog(), by="loaddefaultprices")
        self.stdout.write(
            f"default catalog ({result.source} {result.version}): {len(result.added)} added, "
            f"{len(result.changed)} changed, {result.unchanged} unchanged, {len(result.retired)} retired"
        )
