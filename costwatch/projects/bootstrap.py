"""What `make run` makes sure of on every start: a demo project with keys and an admin user."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from costwatch.config import env_str
from costwatch.projects.models import KeyScope, Project, Role
from costwatch.projects.services import (
    authenticate_key,
    create_project,
    issue_key,
    set_member,
)

DEMO_SLUG = "demo"


@dataclass(frozen=True)
class LocalSetup:
    project: Project
    ingest_key: str
    read_key: str
    admin_username: str
    admin_password: str | None  # None when the admin existed and its password is not ours to show
    admin_created: bool = False  # the password is printed only in the run that created the admin


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _write_secret_file(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


@transaction.atomic
def ensure_local_setup(var: Path) -> LocalSetup:
    """The demo project's keys are kept in var/demo-keys.env (a local, 0600 file) so that they
    can be printed again on the next start; the database only ever holds their hashes."""
    project = Project.objects.filter(slug=DEMO_SLUG).first() or create_project(
        DEMO_SLUG, name="Demo project", timezone_name=env_str("COSTWATCH_DEMO_TIMEZONE", "UTC")
    )
    keys_file = var / "demo-keys.env"
    saved = _read_env_file(keys_file)
    ingest = saved.get("COSTWATCH_INGEST_KEY", "")
    read = saved.get("COSTWATCH_API_KEY", "")
    saved_ingest_key = authenticate_key(ingest, KeyScope.INGEST)
    if saved_ingest_key is None or saved_ingest_key.project_id != project.pk:
        ingest = issue_key(project, KeyScope.INGEST, name="make run").secret
    saved_read_key = authenticate_key(read, KeyScope.READ)
    if saved_read_key is None or saved_read_key.project_id != project.pk:
        read = issue_key(project, KeyScope.READ, name="make run").secret
    _write_secret_file(keys_file, f"COSTWATCH_INGEST_KEY={ingest}\nCOSTWATCH_API_KEY={read}\n")

    username = env_str("COSTWATCH_ADMIN_USER", "admin")
    users = get_user_model()
    password_file = var / "admin-password"
    admin = users.objects.filter(username=username).first()
    password: str | None = None
    created = admin is None
    if admin is None:
        password = env_str("COSTWATCH_ADMIN_PASSWORD", "") or secrets.token_urlsafe(12)
        admin = users.objects.create_superuser(username=username, email="", password=password)
        _write_secret_file(password_file, password + "\n")
    elif password_file.exists() and admin.check_password(password_file.read_text().strip()):
        password = password_file.read_text().strip()
    set_member(project, admin, Role.ADMIN)
    return LocalSetup(project, ingest, read, username, password, created)
