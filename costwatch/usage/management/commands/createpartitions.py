"""Create this month's raw-call partition and the next ones now (`make run` and compose run it after migrate)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from costwatch.usage.partitions import maintain_partitions


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of the raw calls table for this month and the next --months-ahead "
        "(default 2), and apply COSTWATCH_RETENTION_DAYS. Beat does the same hourly; running it right after "
        "migrate means a new install never writes its first hour into the default partition."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--months-ahead", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        report = maintain_partitions(
            today=timezone.now().date(),
            months_ahead=options["months_ahead"],
            retention_days=settings.COSTWATCH_RETENTION_DAYS,
        )
        created = ", ".join(report.created) or "none (all present)"
        self.stdout.write(f"partitions created: {created}")
        if report.dropped:
            self.stdout.write(f"partitions dropped (retention): {', '.join(report.dropped)}")
