"""What /healthz and /readyz report: the database, the broker and the worker's heartbeat.

Beat sends ``record_heartbeat`` every ``COSTWATCH_HEARTBEAT_SECONDS`` and a worker runs it, so a
fresh heartbeat proves that beat schedules, the broker delivers and a worker executes. It is
stale after ``COSTWATCH_HEARTBEAT_STALE_SECONDS`` (default three intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from costwatch.ops.models import Heartbeat

BROKER_TIMEOUT_SECONDS = 3  # kombu's ensure_connection takes whole seconds


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict[str, object]


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(False, {"status": "error", "error": str(exc).strip()[:300]})
    return Check(True, {"status": "ok"})


def broker_check() -> Check:
    """Connect to the Celery broker and count the default queue (a round trip, not just a socket)."""
    from costwatch.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            channel = conn.default_channel
            queue = app.conf.task_default_queue
            if hasattr(channel, "_size"):  # kombu's virtual transports (SQLAlchemy, Redis, ...)
                queued = int(channel._size(queue))
            else:
                # py-amqp's Channel has queue_declare; kombu-stubs' StdChannel does not declare it.
                queued = int(channel.queue_declare(queue=queue, passive=True).message_count)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - every transport raises its own errors; all mean "not reachable"
        return Check(
            False, {"status": "error", "transport": _transport_name(), "error": f"{type(exc).__name__}: {exc}"[:300]}
        )
    return Check(True, {"status": "ok", "transport": _transport_name(), "queued": queued})


def _transport_name() -> str:
    return settings.CELERY_BROKER_URL.split("://", 1)[0]


def worker_check(now: datetime | None = None) -> Check:
    """Fresh when the worker ran the heartbeat task within the stale limit; needs the database."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.COSTWATCH_HEARTBEAT_STALE_SECONDS)
    beat = Heartbeat.objects.filter(component="worker").first()
    if beat is None:
        return Check(False, {"status": "no heartbeat yet", "stale_after_seconds": limit.total_seconds()})
    age = (now - beat.last_seen).total_seconds()
    stale = age > limit.total_seconds()
    return Check(
        not stale,
        {
            "status": "stale" if stale else "ok",
            "last_seen": beat.last_seen.isoformat(),
            "age_seconds": round(age, 1),
            "stale_after_seconds": limit.total_seconds(),
            "hostname": beat.hostname,
        },
    )
