from __future__ import annotations

import datetime as dt
import socket

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from costwatch.ops.models import Heartbeat

BROKER_MESSAGE_KEEP = dt.timedelta(hours=1)


@shared_task(ignore_result=True)
def record_heartbeat(component: str = "worker") -> None:
    Heartbeat.objects.update_or_create(
        component=component,
        defaults={"last_seen": timezone.now(), "hostname": socket.gethostname()},
    )


@shared_task(ignore_result=True)
def prune_broker_messages() -> int:
    """Delete delivered messages of kombu's SQLAlchemy transport older than an hour.

    The transport marks a delivered message invisible and never deletes it; without this the
    ``kombu_message`` table grows by every task ever sent. Returns the number of rows deleted
    (0 for other brokers).
    """
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("sqla+", "sqlalchemy+")):
        return 0
    from sqlalchemy import create_engine, text

    engine = create_engine(url.split("+", 1)[1], pool_pre_ping=True)
    try:
        # kombu stamps the delivery time with the local, naive datetime.now().
        cutoff = dt.datetime.now() - BROKER_MESSAGE_KEEP
        with engine.begin() as conn:
            deleted = conn.execute(
                text("DELETE FROM kombu_message WHERE visible = false AND timestamp < :cutoff"), {"cutoff": cutoff}
            ).rowcount
    finally:
        engine.dispose()
    return int(deleted or 0)
