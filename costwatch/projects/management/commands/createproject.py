from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from costwatch.projects.models import KeyScope, Project, Role
from costwatch.projects.services import PersonError, add_member, create_project, issue_key


class Command(BaseCommand):
    help = (
        "Create a project and print an ingest key and a read key (shown once). --owner makes an existing "
        "account the project's admin, so it can sign in and open the project."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone for days and budgets")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--owner", default=None, metavar="USERNAME", help="an existing account that becomes the project's admin"
        )

    def handle(self, *args: Any, slug: str, timezone: str, name: str, owner: str | None, **options: Any) -> None:
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"project {slug!r} already exists")
        try:
            with transaction.atomic():
                project = create_project(slug, name=name, timezone_name=timezone)
                if owner is not None:
                    add_member(project, owner, Role.ADMIN)
                ingest = issue_key(project, KeyScope.INGEST, name="createproject")
                read = issue_key(project, KeyScope.READ, name="createproject")
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        except PersonError as exc:
            raise CommandError(f"{exc}; the project was not created") from None
        if owner is None:
            self.stderr.write(
                f"Project {slug} has no members yet: give someone a role with "
                f"`manage.py addmember {slug} USERNAME --role admin` (superusers may open it already)."
            )
        self.stdout.write(f"COSTWATCH_INGEST_KEY={ingest.secret}")
        self.stdout.write(f"COSTWATCH_API_KEY={read.secret}")
