"""`make run`: migrate, load defaults, bootstrap, then supervise web, gRPC, worker and beat.

Before Django settings load, ``use_local_defaults`` starts the embedded PostgreSQL unless
``DATABASE_URL`` is set, and puts its URL (and the broker's) in the environment the children
inherit.

The launcher is a small supervisor. A child that exits (a crash, ``kill -9``, an OOM kill) is
logged and started again after a backoff that doubles from ``RESTART_BACKOFF_SECONDS`` up to
``RESTART_BACKOFF_MAX_SECONDS`` and resets once the child has run ``STABLE_AFTER_SECONDS``; one
child's death never stops the others, so ingest keeps answering while a worker restarts. On
the embedded default it also watches the embedded PostgreSQL and starts it again if it died.

SIGINT, SIGTERM and SIGHUP are handled explicitly (a job started in the background by a script
inherits SIGINT *ignored*, so Python's default KeyboardInterrupt cannot be relied on): each
stops every child gracefully, then the embedded PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.conf import LazySettings

STOP_GRACE_SECONDS = 15
RESTART_BACKOFF_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
POLL_SECONDS = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Threads per gunicorn (gthread) worker: a request waiting on PostgreSQL leaves the core to the
# others. The Dockerfile and docker-compose.yml say the same (tests/costwatch/test_compose.py).
WEB_THREADS = 4


def log(message: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp} launcher] {message}", flush=True)


@dataclass
class Backoff:
    """Exponential restart delay: 1, 2, 4, ... seconds up to a cap; reset after a stable run."""

    first: float = RESTART_BACKOFF_SECONDS
    cap: float = RESTART_BACKOFF_MAX_SECONDS
    failures: int = 0

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= STABLE_AFTER_SECONDS:
            self.failures = 0
        delay = min(self.cap, self.first * 2**self.failures)
        self.failures += 1
        return delay


@dataclass
class Service:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    backoff: Backoff = field(default_factory=Backoff)

    def start(self) -> None:
        # A session of its own: the terminal's Ctrl-C reaches only the launcher, which stops the
        # children in order.
        self.process = subprocess.Popen(self.argv, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None
        log(f"started {self.name} (pid {self.process.pid})")


def _services(settings: LazySettings) -> list[Service]:
    py = sys.executable
    host, port = settings.COSTWATCH_HOST, settings.COSTWATCH_PORT
    return [
        Service(
            "web",
            [
                py,
                "-m",
                "gunicorn",
                "costwatch.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(settings.COSTWATCH_WEB_WORKERS),
                "--worker-class",
                "gthread",
                "--threads",
                str(WEB_THREADS),
                "--access-logfile",
                "-",
                "--timeout",
                str(settings.COSTWATCH_WEB_TIMEOUT_SECONDS),
                "--graceful-timeout",
                "10",
                # Attribution ids are kept whole up to 4,096 characters (costwatch.usage.limits),
                # so /api/v1/users/<id> may be ~50 KB URL-encoded: past gunicorn's 4 KB line.
                "--limit-request-line",
                "0",
            ],
        ),
        Service(
            "worker",
            [
                py,
                "-m",
                "celery",
                "-A",
                "costwatch",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(settings.COSTWATCH_WORKER_CONCURRENCY),
            ],
        ),
        Service(
            "beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "costwatch",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        ),
        *(
            [
                Service(
                    "grpc",
                    [
                        py,
                        str(settings.BASE_DIR / "manage.py"),
                        "rungrpc",
                        "--bind",
                        f"{settings.COSTWATCH_GRPC_HOST}:{settings.COSTWATCH_GRPC_PORT}",
                    ],
                )
            ]
            if settings.COSTWATCH_GRPC_PORT
            else []
        ),
    ]


def _prepare() -> LazySettings:
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    # Months ahead now, not at beat's first hourly run: no first hour in the default partition.
    call_command("createpartitions", verbosity=0)
    call_command("loaddefaultprices", verbosity=0)
    call_command("bootstrap")
    return settings


class Supervisor:
    """Keeps every service (and the embedded PostgreSQL) running until asked to stop."""

    def __init__(
        self, services: list[Service], embedded_var: Path | None, watchdog_seconds: float | None = None
    ) -> None:
        self.services = services
        self.embedded_var = embedded_var
        self.watchdog_seconds = watchdog_seconds
        self._next_heartbeat_check = time.monotonic()
        self.stopping = threading.Event()
        self.stop_signal: int | None = None
        self._database_backoff = Backoff()
        self._database_retry_at: float | None = None

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        self.stop_signal = signum
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.request_stop)

    def run(self) -> None:
        for service in self.services:
            service.start()
        while not self.stopping.wait(POLL_SECONDS):
            self.check_database()
            for service in self.services:
                self.check(service)
            self.check_heartbeat()

    def check_heartbeat(self) -> None:
        """Restart worker and beat when they run but the worker's heartbeat went stale.

        A live worker process is not a working worker: its pool processes may be gone, or beat
        may have lost the broker. A worker and beat that have both been up longer than
        ``COSTWATCH_WORKER_WATCHDOG_SECONDS`` yet left the heartbeat older than that are restarted.
        """
        limit = self.watchdog_seconds
        now = time.monotonic()
        if limit is None or now < self._next_heartbeat_check:
            return
        self._next_heartbeat_check = now + max(limit / 3, 1.0)
        pair = [s for s in self.services if s.name in ("worker", "beat")]
        if len(pair) != 2 or any(s.restart_at is not None or now - s.started_at < limit + 10 for s in pair):
            return
        age = _heartbeat_age_seconds()
        if age is None or age <= limit:
            return
        log(f"the worker's heartbeat is {age:.0f}s old (watchdog limit {limit:.0f}s); restarting worker and beat")
        for service in pair:
            if service.process is not None and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
                try:
                    service.process.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _kill_group(service.process)
            service.restarts += 1
            service.start()

    def check(self, service: Service) -> None:
        now = time.monotonic()
        if service.restart_at is not None:
            if now >= service.restart_at:
                service.restarts += 1
                log(f"restarting {service.name} (restart #{service.restarts})")
                service.start()
            return
        if service.process is None or service.process.poll() is None:
            return
        ran_for = now - service.started_at
        delay = service.backoff.next_delay(ran_for)
        service.restart_at = now + delay
        log(
            f"{service.name} (pid {service.process.pid}) exited with {_describe(service.process.returncode)} "
            f"after {ran_for:.0f}s; restarting in {delay:.0f}s"
        )

    def check_database(self) -> None:
        if self.embedded_var is None:
            return
        from costwatch.embedded import embedded_database_running, start_embedded_database

        if embedded_database_running(self.embedded_var):
            return
        now = time.monotonic()
        if self._database_retry_at is None:
            self._database_retry_at = now
            log("the embedded PostgreSQL is not running; starting it again")
        if now < self._database_retry_at:
            return
        try:
            start_embedded_database(self.embedded_var)
        except Exception as exc:  # noqa: BLE001 - pg_ctl failures vary; retry with backoff and say why
            delay = self._database_backoff.next_delay(0)
            self._database_retry_at = now + delay
            log(f"the embedded PostgreSQL did not start ({type(exc).__name__}: {exc}); retrying in {delay:.0f}s")
            return
        self._database_backoff = Backoff()
        self._database_retry_at = None
        log("the embedded PostgreSQL is running again")

    def stop(self) -> None:
        names = ", ".join(s.name for s in self.services)
        log(f"stopping {names}...")
        for service in self.services:
            if service.process and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for service in self.services:
            if service.process is None:
                continue
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{service.name} did not stop within {STOP_GRACE_SECONDS}s; killing it")
                _kill_group(service.process)
            # Anything the child left in its session (gunicorn or celery pool processes).
            _kill_group(service.process, quietly=True)


def _heartbeat_age_seconds() -> float | None:
    """Seconds since the worker's last heartbeat; None when unknown (no row yet, database down)."""
    from django.db import DatabaseError, close_old_connections
    from django.utils import timezone

    from costwatch.ops.models import Heartbeat

    close_old_connections()
    try:
        beat = Heartbeat.objects.filter(component="worker").first()
    except DatabaseError:
        return None
    finally:
        close_old_connections()
    return None if beat is None else (timezone.now() - beat.last_seen).total_seconds()


def _kill_group(process: subprocess.Popen[bytes], quietly: bool = False) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if not quietly:
        process.wait()


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


def main() -> int:
    from costwatch.config import var_dir
    from costwatch.embedded import stop_embedded_database, use_local_defaults, uses_embedded_database

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")
    embedded_var = var_dir() if uses_embedded_database() else None
    supervisor: Supervisor | None = None
    # Handlers first: a stop requested while migrating still stops the embedded database.
    early_stop = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: early_stop.set())
    try:
        use_local_defaults()
        settings = _prepare()
        if early_stop.is_set():
            return 0
        supervisor = Supervisor(_services(settings), embedded_var, settings.COSTWATCH_WORKER_WATCHDOG_SECONDS or None)
        supervisor.install_signal_handlers()
        supervisor.run()
        if supervisor.stop_signal is not None:
            log(f"received {signal.Signals(supervisor.stop_signal).name}")
    finally:
        if supervisor is not None:
            supervisor.stop()
        if embedded_var is not None:
            stop_embedded_database(embedded_var)
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
