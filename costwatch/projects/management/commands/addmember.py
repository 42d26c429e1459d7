from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from costwatch.projects.models import Project, Role
from costwatch.projects.services import LastAdminError, PersonError, add_member


class Command(BaseCommand):
    help = (
        "Give a person a role in a project (admin, finance or oncall). With --create, a missing account is "
        "made and a one-time link to choose its password is printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the project")
        parser.add_argument("username", help="the account's user name")
        parser.add_argument("--role", required=True, choices=Role.values, help="what the person may do")
        parser.add_argument("--create", action="store_true", help="create the account when it does not exist")
        parser.add_argument("--email", default="", help="e-mail of a created account")

    def handle(self, *args: Any, slug: str, username: str, role: str, create: bool, email: str, **options: Any) -> None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project {slug!r}; create it with `manage.py createproject {slug} --owner <user>`")
        try:
            added = add_member(project, username, role, create=create, email=email)
        except (PersonError, LastAdminError) as exc:
            raise CommandError(str(exc)) from None
        user = added.membership.user
        self.stdout.write(f"{user.get_username()} is now {added.membership.get_role_display()} of {project.slug}")
        if added.set_password_path:
            done = "Account created" if added.created_account else "No password chosen yet"
            self.stdout.write(
                f"{done}. Send {user.get_username()} this one-time link to choose a password: "
                f"{settings.COSTWATCH_PUBLIC_URL.rstrip('/')}{added.set_password_path}"
            )
