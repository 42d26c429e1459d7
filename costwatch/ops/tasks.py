from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from costwatch.ops.models import Heartbeat


@shared_task(ignore_result=True)
def record_heartbeat(component: str = "worker") -> None:
    Heartbeat.objects.update_or_create(
        component=component,
        defaults={"last_seen": timezone.now(), "hostname": socket.gethostname()},
    )
