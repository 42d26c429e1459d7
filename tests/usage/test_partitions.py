from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from costwatch.usage.models import LlmCall, RollupHour
from costwatch.usage.partitions import existing_partitions, maintain_partitions
from costwatch.usage.rollups import recompute_dirty
from costwatch.usage.services import mark_traces_dirty
from tests.usage.factories import make_call

pytestmark = pytest.mark.django_db


def _rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def test_calls_table_is_partitioned_with_a_default_partition() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'usage_llmcall'::regclass")
        assert cursor.fetchone() == ("r",)
    assert existing_partitions()["usage_llmcall_default"] is None


def test_months_are_created_ahead_and_stray_rows_move_out_of_the_default(acme) -> None:
    at = datetime(2031, 2, 14, 12, tzinfo=timezone.utc)
    LlmCall.objects.bulk_create([make_call(acme, trace="p1", at=at)])
    assert _rows_in("usage_llmcall_default") == 1
    report = maintain_partitions(today=date(2031, 1, 20), months_ahead=2)
    assert report.created == ["usage_llmcall_p2031_01", "usage_llmcall_p2031_02", "usage_llmcall_p2031_03"]
    assert _rows_in("usage_llmcall_default") == 0
    assert _rows_in("usage_llmcall_p2031_02") == 1
    assert maintain_partitions(today=date(2031, 1, 20), months_ahead=2).created == []
    # Exactly-once still holds across partitions.
    LlmCall.objects.bulk_create(
        [make_call(acme, trace="p1", at=at, span=LlmCall.objects.get().span_id)], ignore_conflicts=True
    )
    assert LlmCall.objects.count() == 1


def test_retention_drops_old_raw_months_but_keeps_rollups(acme) -> None:
    old = datetime(2030, 3, 5, 10, tzinfo=timezone.utc)
    new = datetime(2030, 6, 5, 10, tzinfo=timezone.utc)
    maintain_partitions(today=date(2030, 3, 1), months_ahead=4)
    LlmCall.objects.bulk_create(
        [make_call(acme, trace="o1", at=old, cost=Decimal("3")), make_call(acme, trace="n1", at=new, cost=Decimal("4"))]
    )
    mark_traces_dirty(acme, ["o1".ljust(32, "0"), "n1".ljust(32, "0")])
    recompute_dirty()
    report = maintain_partitions(today=date(2030, 6, 10), months_ahead=0, retention_days=60)
    assert "usage_llmcall_p2030_03" in report.dropped and "usage_llmcall_p2030_06" not in report.dropped
    assert list(LlmCall.objects.values_list("trace_id", flat=True)) == ["n1".ljust(32, "0")]
    assert sum(r.cost for r in RollupHour.objects.filter(project=acme, dimension="total")) == Decimal("7")


def test_createpartitions_makes_this_month_and_the_next_two_before_beat_runs() -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from costwatch.usage.partitions import partition_name

    today = timezone.now().date()
    months = [today.replace(day=1)]
    for _ in range(2):
        months.append((months[-1].replace(day=28) + timedelta(days=4)).replace(day=1))
    out = StringIO()
    call_command("createpartitions", stdout=out)
    partitions = existing_partitions()
    assert all(partition_name(month) in partitions for month in months), sorted(partitions)
    again = StringIO()
    call_command("createpartitions", stdout=again)
    assert "none (all present)" in again.getvalue()


def test_make_run_and_compose_create_partitions_right_after_migrate() -> None:
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[2]
    launcher = (repo / "costwatch" / "launcher.py").read_text()
    assert launcher.index('"migrate"') < launcher.index('"createpartitions"')
    command = " ".join(yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]["migrate"]["command"])
    assert command.index("migrate --noinput") < command.index("createpartitions")
