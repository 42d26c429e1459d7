from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from costwatch.projects.bootstrap import ensure_local_setup


class Command(BaseCommand):
    help = "Make sure the demo project, its keys and an admin user exist, and print how to use them."

    def handle(self, *args: Any, **options: Any) -> None:
        setup = ensure_local_setup(settings.VAR_DIR)
        url = settings.COSTWATCH_PUBLIC_URL.rstrip("/")
        password = setup.admin_password or "(unchanged; set it with: python manage.py changepassword " + setup.admin_username + ")"
        self.stdout.write(f"Costwatch web:   {url}/")
        self.stdout.write(f"OTLP endpoint:   {url}/v1/traces")
        self.stdout.write(f"Admin login:     {setup.admin_username} / {password}")
        self.stdout.write(f"Project:         {setup.project.slug}")
        self.stdout.write(f"COSTWATCH_INGEST_KEY={setup.ingest_key}")
        self.stdout.write(f"COSTWATCH_API_KEY={setup.read_key}")
        self.stdout.write(
            "Point an OpenTelemetry exporter at it:\n"
            f"  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={url}/v1/traces\n"
            f"  OTEL_EXPORTER_OTLP_HEADERS=x-costwatch-key={setup.ingest_key}"
        )
