"""A real Celery beat schedules the rollup task and a real worker runs it against the broker."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from costwatch.usage.models import DirtyBucket, DirtyTrace, LlmCall, RollupHour
from costwatch.usage.services import mark_traces_dirty
from tests.processes import celery, process_env
from tests.usage.factories import make_call


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_beat_and_worker_turn_new_calls_into_rollups(acme, tmp_path: Path) -> None:
    at = datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)
    LlmCall.objects.bulk_create(
        [
            make_call(acme, trace="w1", at=at, user="ann", cost=Decimal("0.25")),
            make_call(acme, trace="w2", at=at, user="ben", cost=Decimal("0.75")),
        ]
    )
    mark_traces_dirty(acme, ["w1".ljust(32, "0"), "w2".ljust(32, "0")])
    env = process_env(tmp_path, COSTWATCH_ROLLUP_INTERVAL_SECONDS="1", COSTWATCH_HEARTBEAT_SECONDS="3600")
    with celery("worker", env, tmp_path / "worker.log"), celery("beat", env, tmp_path / "beat.log"):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and DirtyTrace.objects.filter(project=acme).exists():
            time.sleep(0.5)
    logs = (tmp_path / "worker.log").read_text()[-2000:] + (tmp_path / "beat.log").read_text()[-2000:]
    assert not DirtyTrace.objects.filter(project=acme).exists(), logs
    total = RollupHour.objects.get(project=acme, dimension="total")
    assert total.cost == Decimal("1") and total.llm_calls == 2 and total.requests == 2
    assert set(RollupHour.objects.filter(project=acme, dimension="user").values_list("key", flat=True)) == {
        "ann",
        "ben",
    }


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_a_dimension_added_through_the_api_is_backfilled_by_the_worker(tmp_path: Path) -> None:
    import json as _json

    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from costwatch.projects.models import Role
    from costwatch.projects.services import create_project, issue_key, set_member
    from costwatch.usage.models import CustomDimension

    project = create_project("worker-dims")
    ingest = issue_key(project, "ingest").secret
    at = datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)
    nanos = str(int(at.timestamp()) * 10**9)
    spans = [
        {
            "traceId": f"{i + 1:032x}",
            "spanId": f"{i + 1:016x}",
            "name": "chat",
            "kind": 3,
            "startTimeUnixNano": nanos,
            "endTimeUnixNano": nanos,
            "attributes": [
                {"key": k, "value": {"stringValue": v}}
                for k, v in (
                    ("gen_ai.operation.name", "chat"),
                    ("gen_ai.request.model", "m"),
                    ("app.tenant", f"t{i % 2}"),
                )
            ],
        }
        for i in range(4)
    ]
    body = _json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    sent = APIClient().post(
        "/v1/traces", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {ingest}"
    )
    assert sent.status_code == 200
    admin = get_user_model().objects.create_user("dims-admin", password="x" * 12)
    set_member(project, admin, Role.ADMIN)
    client = APIClient()
    client.force_login(admin)
    env = process_env(tmp_path, COSTWATCH_ROLLUP_INTERVAL_SECONDS="1", COSTWATCH_HEARTBEAT_SECONDS="3600")
    with celery("worker", env, tmp_path / "worker.log"), celery("beat", env, tmp_path / "beat.log"):
        created = client.post(
            "/api/v1/dimensions?project=worker-dims",
            {"name": "tenant", "attribute_keys": ["app.tenant"]},
            format="json",
        )
        assert created.status_code == 201 and created.json()["backfill_pending"] is True
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
            CustomDimension.objects.filter(project=project, backfilled_at__isnull=False).exists()
            and RollupHour.objects.filter(project=project, dimension__startswith="dim:").exists()
            and not DirtyBucket.objects.filter(project=project).exists()
            and not DirtyTrace.objects.filter(project=project).exists()
        ):
            time.sleep(0.5)
    logs = (tmp_path / "worker.log").read_text()[-2000:]
    rows = dict(
        RollupHour.objects.filter(project=project, dimension__startswith="dim:").values_list("key", "llm_calls")
    )
    assert rows == {"t0": 2, "t1": 2}, logs
    assert client.get("/api/v1/dimensions/tenant?project=worker-dims").json()["backfill_pending"] is False
