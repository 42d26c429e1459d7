"""Health endpoints: /healthz (the whole platform) and /readyz (this web process can take exports)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from costwatch.ops.health import broker_check, database_check, worker_check


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and the worker's heartbeat is fresh; else 503 naming what is wrong.

    Body: ``{"status": "ok"|"error", "database": {...}, "worker": {"status": "ok"|"stale"|"no heartbeat
    yet", "last_seen", "age_seconds", "stale_after_seconds"}, "time"}`` (UTC ISO 8601).
    """
    database = database_check()
    body: dict[str, object] = {"database": database.detail, "time": timezone.now().isoformat()}
    ok = database.ok
    if database.ok:
        worker = worker_check()
        body["worker"] = worker.detail
        ok = worker.ok
    body["status"] = "ok" if ok else "error"
    return JsonResponse(body, status=200 if ok else 503)


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the Celery broker are reachable, else 503 (load balancers, compose).

    The worker's heartbeat is reported but does not decide: exports are stored and acknowledged
    without a worker, and rollups catch up when it returns.
    """
    database = database_check()
    broker = broker_check()
    ok = database.ok and broker.ok
    body: dict[str, object] = {
        "status": "ok" if ok else "error",
        "database": database.detail,
        "broker": broker.detail,
        "time": timezone.now().isoformat(),
    }
    if database.ok:
        body["worker"] = worker_check().detail
    return JsonResponse(body, status=200 if ok else 503)
