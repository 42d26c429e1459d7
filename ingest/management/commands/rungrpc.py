from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.grpc_server import build_server, serve_until_signalled


class Command(BaseCommand):
    help = "Run the OTLP/gRPC trace receiver (TraceService/Export) until SIGTERM or Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            default=f"{settings.COSTWATCH_GRPC_HOST}:{settings.COSTWATCH_GRPC_PORT}",
            help="HOST:PORT to listen on (default COSTWATCH_GRPC_HOST:COSTWATCH_GRPC_PORT)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.COSTWATCH_GRPC_WORKERS,
            help="threads serving exports (each holds one database connection)",
        )
        parser.add_argument(
            "--grace", type=float, default=10.0, help="seconds in-flight exports get to finish on shutdown"
        )

    def handle(self, *args: Any, bind: str, workers: int, grace: float, **options: Any) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        try:
            server, port = build_server(
                bind, workers=workers, max_message_bytes=settings.COSTWATCH_GRPC_MAX_MESSAGE_BYTES
            )
        except OSError as exc:
            raise CommandError(str(exc)) from None
        host = bind.rsplit(":", 1)[0]

        def announce() -> None:
            self.stdout.write(f"OTLP/gRPC receiver listening on {host}:{port}")
            self.stdout.flush()

        serve_until_signalled(server, grace_seconds=grace, on_started=announce)
        self.stdout.write("OTLP/gRPC receiver stopped")
