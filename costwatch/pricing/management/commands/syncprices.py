from __future__ import annotations

import getpass
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from costwatch.pricing.imports import PriceFileError, import_litellm_file, sync_source
from costwatch.pricing.sources.genai_prices import SourceError, read_catalog

LISTED = 20


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--effective-from {value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Synchronise the global price catalog from the installed genai-prices package (default) or "
        "import a LiteLLM price file. Prints what it adds, changes and keeps; stored calls keep their "
        "costs until `reprice`. Offline: to get newer prices, install a newer genai-prices first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--source",
            choices=["genai-prices"],
            default="genai-prices",
            help="the installed genai-prices package (default)",
        )
        source.add_argument("--litellm", metavar="FILE", help="a LiteLLM model_prices_and_context_window.json")
        parser.add_argument(
            "--effective-from",
            type=_day,
            default=None,
            help="with --litellm: date from which changed or new prices apply (default: today, UTC)",
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        dry = options["dry_run"]
        prefix = "dry run, nothing written: " if dry else ""
        if options["litellm"]:
            self._litellm(options, prefix)
            return
        try:
            catalog = read_catalog()
        except SourceError as exc:
            raise CommandError(f"cannot read the catalog: {exc}") from None
        result = sync_source(catalog, by=f"syncprices ({getpass.getuser()})", dry_run=dry)
        self.stdout.write(
            f"{prefix}{result.source} {result.version}: {result.providers} providers, {result.models} models; "
            f"prices {len(result.added)} added, {len(result.changed)} changed, {result.unchanged} kept, "
            f"{len(result.retired)} retired, {len(result.skipped)} skipped ({result.seconds:.1f} s)"
        )
        self._list("added", result.added, verbosity)
        self._list("changed", result.changed, verbosity)
        self._list("retired", result.retired, verbosity)
        self._list("skipped", [f"{name}: {reason}" for name, reason in result.skipped], verbosity)
        if (result.changed or result.retired) and not dry:
            self.stdout.write("Stored calls keep their costs until you run `python manage.py reprice`.")

    def _list(self, what: str, labels: list[str], verbosity: int) -> None:
        shown = labels if verbosity >= 2 else labels[:LISTED]
        for label in shown:
            self.stdout.write(f"  {what:<8} {label}")
        if len(shown) < len(labels):
            self.stdout.write(f"  ... and {len(labels) - len(shown)} more {what} (-v 2 lists them all)")

    def _litellm(self, options: dict[str, Any], prefix: str) -> None:
        effective_from = options["effective_from"] or timezone.now().date()
        try:
            with transaction.atomic():
                result = import_litellm_file(options["litellm"], effective_from=effective_from)
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except PriceFileError as exc:
            raise CommandError(f"cannot import prices: {exc}") from None
        self.stdout.write(
            f"{prefix}litellm prices from {effective_from}: {len(result.added)} added, {len(result.changed)} "
            f"changed, {result.unchanged} kept, {len(result.skipped)} skipped"
        )
        verbosity = options["verbosity"]
        self._list("added", result.added, verbosity)
        self._list("changed", result.changed, verbosity)
        self._list("skipped", [f"{name}: {reason}" for name, reason in result.skipped], verbosity)
        if result.changed and not options["dry_run"]:
            self.stdout.write("Stored calls keep their costs until you run `python manage.py reprice`.")
