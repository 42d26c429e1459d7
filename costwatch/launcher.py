"""`make run`: migrate, load defaults, bootstrap, then run web, worker and beat until Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

STOP_GRACE_SECONDS = 15


@dataclass
class Service:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None


def _services(settings: object) -> list[Service]:
    py = sys.executable
    host, port = settings.COSTWATCH_HOST, settings.COSTWATCH_PORT  # type: ignore[attr-defined]
    return [
        Service("web", [py, "-m", "gunicorn", "costwatch.wsgi:application", "--bind", f"{host}:{port}",
                        "--workers", str(settings.COSTWATCH_WEB_WORKERS), "--access-logfile", "-",  # type: ignore[attr-defined]
                        "--graceful-timeout", "10"]),
        Service("worker", [py, "-m", "celery", "-A", "costwatch", "worker", "--loglevel", "INFO",
                           "--concurrency", str(settings.COSTWATCH_WORKER_CONCURRENCY)]),  # type: ignore[attr-defined]
        Service("beat", [py, "-m", "celery", "-A", "costwatch", "beat", "--loglevel", "INFO",
                         "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME]),  # type: ignore[attr-defined]
        *([Service("grpc", [py, str(settings.BASE_DIR / "manage.py"), "rungrpc", "--bind",  # type: ignore[attr-defined]
                            f"{settings.COSTWATCH_GRPC_HOST}:{settings.COSTWATCH_GRPC_PORT}"])]  # type: ignore[attr-defined]
          if settings.COSTWATCH_GRPC_PORT else []),  # type: ignore[attr-defined]
    ]


def _prepare() -> object:
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    for command in ("loaddefaultprices",):
        try:
            call_command(command, verbosity=0)
        except Exception as exc:  # noqa: BLE001 - optional default data must not block the start
            if "Unknown command" not in str(exc):
                raise
    call_command("bootstrap")
    return settings


def _stop(services: list[Service]) -> None:
    for service in services:
        if service.process and service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for service in services:
        if service.process is None:
            continue
        try:
            service.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")
    settings = _prepare()
    services = _services(settings)
    # Children ignore the terminal's Ctrl-C: this process stops them in order, gracefully.
    for service in services:
        service.process = subprocess.Popen(service.argv, start_new_session=True)
        print(f"started {service.name} (pid {service.process.pid})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    exit_code = 0
    try:
        while True:
            for service in services:
                if service.process and service.process.poll() is not None:
                    print(f"{service.name} exited with {service.process.returncode}; stopping the rest", flush=True)
                    exit_code = 1
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"stopping {', '.join(service.name for service in services)}...", flush=True)
    finally:
        _stop(services)
        if not os.environ.get("DATABASE_URL"):
            from costwatch.embedded import stop_embedded_database

            stop_embedded_database(settings.VAR_DIR)  # type: ignore[attr-defined]
        print("stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
