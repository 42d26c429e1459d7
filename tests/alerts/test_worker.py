"""A real Celery worker process (with its embedded beat) turns a raw call into a delivered notification."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import Delivery, Incident
from costwatch.usage.models import LlmCall
from costwatch.usage.services import mark_dirty
from tests.alerts.conftest import make_channel, make_rule
from tests.usage.factories import make_call

REPO = Path(__file__).resolve().parents[2]


def worker_database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or ""
    if host.startswith("/"):  # a socket directory
        return f"postgres://{auth}@/{s['NAME']}?host={quote(host)}"
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "worker.log"
    environment = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or "filesystem://",
        "COSTWATCH_VAR_DIR": str(tmp_path / "var"),  # filesystem broker, beat schedule, secret key
        **env,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "costwatch",
            "worker",
            "--beat",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=REPO,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_rolls_up_evaluates_and_delivers_a_budget_breach(acme, receiver, tmp_path) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url + "/costwatch")
    make_rule(acme, [channel], name="Monthly budget", period="month", amount=Decimal("1.00"))
    now = timezone.now()
    call = make_call(acme, trace="w1", at=now - timedelta(seconds=1), user="alice", cost=Decimal("1.25"))
    LlmCall.objects.bulk_create([call])
    mark_dirty(acme, [call.started_at])  # what ingest does; the worker's beat runs rollups and alerts

    # Alert evaluation's and the delivery sweep's own beats are an hour away: only the follow-up of
    # the rollup run (for acme) can fire it, and only the sweep that evaluation requests can send it.
    process, log = start_worker(
        tmp_path,
        COSTWATCH_ALERT_INTERVAL_SECONDS="3600",
        COSTWATCH_ROLLUP_INTERVAL_SECONDS="1",
        COSTWATCH_DELIVERY_SWEEP_SECONDS="3600",
        COSTWATCH_PUBLIC_URL="https://costwatch.example",
    )
    try:
        requests = receiver.wait_for(1, timeout=90)
        deadline = time.monotonic() + 20
        while not Delivery.objects.filter(status="sent").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop_worker(process)
    assert requests, "no notification arrived; worker log:\n" + log.read_text()[-4000:]
    body = requests[0].json()
    incident = Incident.objects.get()
    assert (body["event"], body["level"], body["value"], body["threshold"]) == ("firing", "breach", "1.25", "1")
    assert body["link"] == f"https://costwatch.example/alerts/incidents/{incident.pk}/"
    assert "x-costwatch-signature" in requests[0].headers
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert len(receiver.requests) == 1
