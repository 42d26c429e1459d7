"""Marking rollup buckets dirty. Rollups themselves are recomputed from raw calls."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

from django.db import connection

from costwatch.projects.models import Project
from costwatch.usage.models import DirtyBucket, DirtyTrace

# The bucket (an hour of the project's local clock, as a UTC instant) of a timestamp column, in SQL.
# %(bucket_minutes)s is ``bucket_minutes(project.tz)``; the session time zone is UTC (Django's).
BUCKET_SQL = (
    "(date_trunc('hour', {column} - make_interval(mins => %(bucket_minutes)s))"
    " + make_interval(mins => %(bucket_minutes)s))"
)


def bucket_minutes(tz: ZoneInfo, at: datetime | None = None) -> int:
    """Minutes past each UTC hour at which the zone's local hours start: 0, 30 (Asia/Kolkata,
    Australia/Adelaide, America/St_Johns) or 15 (Asia/Kathmandu at +5:45, Pacific/Chatham).

    Rollup buckets are the project's local hours, so its days, weeks and months (and budget
    windows) are whole buckets in every UTC offset. A zone whose offset changes by a fraction of
    an hour over the year (Australia/Lord_Howe) is bucketed by its offset at ``at`` (default now).
    """
    offset = (at or datetime.now(dt_timezone.utc)).astimezone(tz).utcoffset()
    return -int(offset.total_seconds() // 60) % 60 if offset is not None else 0


def bucket_of(moment: datetime, tz: ZoneInfo) -> datetime:
    """The start (UTC) of the rollup bucket holding ``moment``: the project's local hour."""
    shift = timedelta(minutes=bucket_minutes(tz))
    return (moment.astimezone(dt_timezone.utc) - shift).replace(minute=0, second=0, microsecond=0) + shift


def mark_dirty(project: Project, moments: Iterable[datetime]) -> int:
    """Mark the buckets containing these moments for recomputation (idempotent)."""
    tz = project.tz
    hours = sorted({bucket_of(m, tz) for m in moments})
    if not hours:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {DirtyBucket._meta.db_table} (project_id, hour, marked_at)
                SELECT %s, h, now() FROM unnest(%s::timestamptz[]) AS h
                ON CONFLICT (project_id, hour) DO UPDATE SET marked_at = now()""",
            [project.pk, hours],
        )
    return len(hours)


def mark_traces_dirty(project: Project, trace_ids: Iterable[str]) -> int:
    """Mark traces for recomputation: their rollup parts (every hour holding one of their calls:
    a late root span changes earlier calls' attribution, a new first call the request count) and
    their request rollups. Plain inserts into an append-only table, so ingest never waits for a
    rollup run; a trace marked twice is recomputed once per claim. Returns the traces marked."""
    ids = sorted(set(trace_ids))
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {DirtyTrace._meta.db_table} (project_id, trace_id, marked_at)
                SELECT %s, t, now() FROM unnest(%s::text[]) AS t""",
            [project.pk, ids],
        )
    return len(ids)
