from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from costwatch.pricing.catalog import describe_catalog_load, load_default_catalog
from costwatch.pricing.models import PriceOrigin
from costwatch.pricing.services import sync_catalog


class Command(BaseCommand):
    help = "Load (or update) the price catalog that ships with Costwatch. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sync_catalog(load_default_catalog(), origin=PriceOrigin.DEFAULT)
        self.stdout.write(describe_catalog_load(result.added, result.changed, result.unchanged))
