"""manage.py importbill --project SLUG --provider openai|anthropic FILE.csv"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from costwatch.billing.services import import_csv
from costwatch.billing.sources import SOURCES, SourceError
from costwatch.money import decimal_json
from costwatch.projects.models import Project


class Command(BaseCommand):
    help = "Import a provider's cost CSV export into a project's bills (the UTC days it covers are replaced)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the cost CSV (README 'Reconciliation' lists the columns read)")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--provider", required=True, choices=sorted(SOURCES))

    def handle(self, *args: Any, **options: Any) -> None:  # noqa: ANN401
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project {options['project']!r}")
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        try:
            result = import_csv(project, options["provider"], text, filename=path.name)
        except SourceError as exc:
            raise CommandError(f"{path.name}: {exc} (nothing was imported)") from None
        totals = (
            ", ".join(f"{decimal_json(v)} {c}" for c, v in sorted(result.total_by_currency.items())) or "nothing billed"
        )
        span = f"{result.days[0]} .. {result.days[-1]}" if result.days else "no days"
        self.stdout.write(f"imported {result.lines} lines for {len(result.days)} UTC days ({span}): {totals}")
