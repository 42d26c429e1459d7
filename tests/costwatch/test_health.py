"""/healthz and /readyz against the real database and broker; the logging filters on real records."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from costwatch.logfilters import ForbiddenWithoutTraceback, QuietPeriodicWork
from costwatch.ops.models import Heartbeat

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_only_with_a_fresh_worker_heartbeat(settings) -> None:
    settings.COSTWATCH_HEARTBEAT_STALE_SECONDS = 90
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["status"] == "no heartbeat yet"

    Heartbeat.objects.create(component="worker", last_seen=timezone.now() - timedelta(seconds=10))
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["worker"]["status"] == "ok"

    Heartbeat.objects.filter(component="worker").update(last_seen=timezone.now() - timedelta(seconds=160))
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["worker"]["status"] == "stale"
    assert body["worker"]["age_seconds"] >= 160


def test_readyz_needs_database_and_broker_but_not_the_worker(settings, monkeypatch) -> None:
    Heartbeat.objects.create(component="worker", last_seen=timezone.now() - timedelta(hours=1))
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["broker"]["status"] == "ok"
    assert response.json()["worker"]["status"] == "stale"  # reported, not decisive

    closed = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(settings, "CELERY_BROKER_URL", closed)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"]["status"] == "error"


def _record(name: str, level: int, msg: str, args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def test_idle_periodic_ticks_are_not_logged_at_info_and_real_work_is() -> None:
    quiet = QuietPeriodicWork()
    trace = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
    idle = _record(
        "celery.app.trace",
        logging.INFO,
        trace,
        ({"name": "costwatch.usage.tasks.recompute_dirty_buckets", "id": "1", "runtime": 0.01, "return_value": "0"},),
    )
    busy = _record(
        "celery.app.trace",
        logging.INFO,
        trace,
        ({"name": "costwatch.usage.tasks.recompute_dirty_buckets", "id": "2", "runtime": 0.4, "return_value": "3"},),
    )
    other = _record(
        "celery.app.trace",
        logging.INFO,
        trace,
        ({"name": "alerts.tasks.deliver", "id": "3", "runtime": 0.4, "return_value": "None"},),
    )
    sending = _record(
        "celery.beat",
        logging.INFO,
        "Scheduler: Sending due task %s (%s)",
        ("rollups", "costwatch.usage.tasks.recompute_dirty_buckets"),
    )
    assert not quiet.filter(idle)
    assert not quiet.filter(sending)
    assert quiet.filter(busy) and busy.levelno == logging.INFO
    assert quiet.filter(other)


def test_a_403_is_logged_as_one_line(caplog, django_user_model, acme) -> None:
    from costwatch.projects.models import Role
    from costwatch.projects.services import set_member

    user = django_user_model.objects.create_user("reader", password="pw-123456789")
    set_member(acme, user, Role.ONCALL)
    client = Client()
    client.force_login(user)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(f"/p/{acme.slug}/settings/keys/")
    assert response.status_code == 403
    forbidden = [r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", None) == 403]
    assert forbidden, "the 403 was not logged at all"
    for record in forbidden:
        assert ForbiddenWithoutTraceback().filter(record)
        assert record.exc_info is None
        assert "\n" not in record.getMessage()
