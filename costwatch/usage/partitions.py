"""Monthly partitions of the raw calls table: created ahead, dropped after the retention period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction

from costwatch.projects.calendar import UTC_CALENDAR, month_start, next_month

PARENT = "usage_llmcall"
DEFAULT = "usage_llmcall_default"


@dataclass(frozen=True)
class PartitionReport:
    created: list[str]
    dropped: list[str]


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month:%Y_%m}"


def existing_partitions() -> dict[str, tuple[datetime, datetime] | None]:
    """Partition name -> (from, to), or None for the default partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = %s::regclass""",
            [PARENT],
        )
        rows = cursor.fetchall()
    result: dict[str, tuple[datetime, datetime] | None] = {}
    for name, bound in rows:
        result[name] = None if bound == "DEFAULT" else _parse_bound(bound)
    return result


def _parse_bound(bound: str) -> tuple[datetime, datetime]:
    # FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')
    parts = bound.split("'")
    return datetime.fromisoformat(parts[1]), datetime.fromisoformat(parts[3])


def create_month(month: date) -> bool:
    """Create the partition for one month; rows already in the default partition move into it."""
    name = partition_name(month)
    start, end = UTC_CALENDAR.midnight(month), UTC_CALENDAR.midnight(next_month(month))
    if name in existing_partitions():
        return False
    with transaction.atomic(), connection.cursor() as cursor:
        # Block concurrent inserts into the default partition while stray rows move.
        cursor.execute(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE started_at >= %s AND started_at < %s RETURNING *)"
            f" INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
    return True


def maintain_partitions(*, today: date, months_ahead: int = 2, retention_days: int = 0) -> PartitionReport:
    """Make sure this month and ``months_ahead`` after it exist; drop months older than retention.

    Rollups are kept when raw partitions are dropped: they are the long-term record.
    """
    created = []
    month = month_start(today)
    for _ in range(months_ahead + 1):
        if create_month(month):
            created.append(partition_name(month))
        month = next_month(month)
    dropped = []
    if retention_days > 0:
        cutoff = UTC_CALENDAR.midnight(today - timedelta(days=retention_days))
        for name, bounds in sorted(existing_partitions().items()):
            if bounds is not None and bounds[1] <= cutoff:
                with connection.cursor() as cursor:
                    # Deferred foreign-key checks of this transaction must run before the drop.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(f"DROP TABLE {name}")
                dropped.append(name)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {DEFAULT} WHERE started_at < %s", [cutoff])
    return PartitionReport(created, dropped)
