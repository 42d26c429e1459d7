from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from costwatch.pricing.imports import PriceFileError, import_litellm_file

LISTED_SKIPS = 20


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--effective-from {value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Import a LiteLLM-format price file (model_prices_and_context_window.json) into the global "
        "catalog. Idempotent: a model gets a new dated price only when its price changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the LiteLLM JSON file")
        parser.add_argument(
            "--effective-from",
            type=_day,
            default=None,
            help="date from which changed or new prices apply (YYYY-MM-DD, default: today, UTC)",
        )
        parser.add_argument("--source-url", default="", help="where the file came from, stored with each new price")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        effective_from = options["effective_from"] or timezone.now().date()
        try:
            with transaction.atomic():
                result = import_litellm_file(
                    options["file"], effective_from=effective_from, source_url=options["source_url"]
                )
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except PriceFileError as exc:
            raise CommandError(f"cannot import prices: {exc}") from None
        verbosity = options["verbosity"]
        prefix = "dry run, nothing written: " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}litellm prices from {effective_from}: {len(result.added)} added, {len(result.changed)} changed, "
            f"{result.unchanged} unchanged, {len(result.skipped)} skipped"
        )
        for label in result.added:
            self.stdout.write(f"  added    {label}")
        for label in result.changed:
            self.stdout.write(f"  changed  {label}")
        shown = result.skipped if verbosity >= 2 else result.skipped[:LISTED_SKIPS]
        for name, reason in shown:
            self.stdout.write(f"  skipped  {name}: {reason}")
        if len(shown) < len(result.skipped):
            self.stdout.write(f"  ... and {len(result.skipped) - len(shown)} more skipped (-v 2 lists them all)")
        if (result.added or result.changed) and not options["dry_run"]:
            self.stdout.write("Stored calls keep their costs until you run `python manage.py reprice`.")
