"""A real Celery beat schedules the rollup task and a real worker runs it against the broker."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from costwatch.usage.models import DirtyBucket, LlmCall, RollupHour
from costwatch.usage.services import mark_traces_dirty
from tests.processes import celery, process_env
from tests.usage.factories import make_call


@pytest.mark.django_db(transaction=True)
def test_beat_and_worker_turn_new_calls_into_rollups(acme, tmp_path: Path) -> None:
    at = datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)
    LlmCall.objects.bulk_create([make_call(acme, trace="w1", at=at, user="ann", cost=Decimal("0.25")),
                                 make_call(acme, trace="w2", at=at, user="ben", cost=Decimal("0.75"))])
    mark_traces_dirty(acme, ["w1".ljust(32, "0"), "w2".ljust(32, "0")])
    env = process_env(tmp_path, COSTWATCH_ROLLUP_INTERVAL_SECONDS="1", COSTWATCH_HEARTBEAT_SECONDS="3600")
    with celery("worker", env, tmp_path / "worker.log"), celery("beat", env, tmp_path / "beat.log"):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and DirtyBucket.objects.filter(project=acme).exists():
            time.sleep(0.5)
    logs = (tmp_path / "worker.log").read_text()[-2000:] + (tmp_path / "beat.log").read_text()[-2000:]
    assert not DirtyBucket.objects.filter(project=acme).exists(), logs
    total = RollupHour.objects.get(project=acme, dimension="total")
    assert total.cost == Decimal("1") and total.llm_calls == 2 and total.requests == 2
    assert set(RollupHour.objects.filter(project=acme, dimension="user").values_list("key", flat=True)) == {"ann", "ben"}
