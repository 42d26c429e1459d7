from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from costwatch.ops.models import Heartbeat


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness of the web process and its database, plus when the worker last ran a task."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beats = {b.component: b.last_seen.isoformat() for b in Heartbeat.objects.all()}
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": str(exc).strip()}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "heartbeats": beats, "time": timezone.now().isoformat()})
