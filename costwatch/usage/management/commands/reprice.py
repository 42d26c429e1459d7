from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from costwatch.money import format_usd_exact
from costwatch.projects.models import Project
from costwatch.usage.repricing import BATCH_SIZE, RepriceError, reprice_calls, since_of


class Command(BaseCommand):
    help = (
        "Price stored calls again with the current catalog, overrides and aliases (after a price was "
        "added or corrected), and mark the rollup hours they change for recomputation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="project slug (default: every project)")
        parser.add_argument(
            "--since", help="only calls started at or after this date (YYYY-MM-DD, project time zone) or ISO datetime"
        )
        parser.add_argument("--model", help="only calls that reported, asked for or were priced as this model")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="calls per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        projects = Project.objects.order_by("slug")
        if options["project"]:
            projects = projects.filter(slug=options["project"])
            if not projects.exists():
                raise CommandError(f"no project {options['project']!r}")
        for project in projects:
            try:
                since = since_of(project, options["since"]) if options["since"] else None
                result = reprice_calls(
                    project,
                    since=since,
                    model=options["model"],
                    batch_size=options["batch_size"],
                    by=f"manage.py reprice ({getpass.getuser()})",
                )
            except RepriceError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(
                f"{result.project}: {result.checked} calls checked, {result.changed} changed; "
                f"{result.priced} priced, {result.reported} with a reported cost, {result.unpriced} still unpriced; "
                f"{result.hours} hours marked for rollup; total {format_usd_exact(result.total_before)} → "
                f"{format_usd_exact(result.total_after)} (unpriced {result.unpriced_before} → {result.unpriced})"
            )
