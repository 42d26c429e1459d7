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
        if setup.admin_created:
            password = f"{setup.admin_password}   (created now; also kept in var/admin-password, mode 0600)"
        else:
            password = f"(password not shown; see var/admin-password or run: python manage.py changepassword {setup.admin_username})"
        self.stdout.write(f"Costwatch web:   {url}/")
        self.stdout.write(f"OTLP/HTTP:       {url}/v1/traces")
        if settings.COSTWATCH_GRPC_PORT:
            self.stdout.write(
                f"OTLP/gRPC:       {settings.COSTWATCH_GRPC_HOST}:{settings.COSTWATCH_GRPC_PORT} (plaintext)"
            )
        self.stdout.write(f"Admin login:     {setup.admin_username} / {password}")
        self.stdout.write(f"Project:         {setup.project.slug}")
        self.stdout.write(f"COSTWATCH_INGEST_KEY={setup.ingest_key}")
        self.stdout.write(f"COSTWATCH_API_KEY={setup.read_key}")
        self.stdout.write(
            "Point an OpenTelemetry exporter at it:\n"
            f"  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={url}/v1/traces\n"
            f"  OTEL_EXPORTER_OTLP_HEADERS=x-costwatch-key={setup.ingest_key}"
        )
