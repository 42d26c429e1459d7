"""Marking rollup buckets dirty. Rollups themselves are recomputed from raw calls."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from costwatch.projects.models import Project
from costwatch.usage.models import DirtyBucket, LlmCall


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def mark_dirty(project: Project, moments: Iterable[datetime]) -> int:
    """Mark the hours containing these moments for recomputation (idempotent)."""
    hours = sorted({hour_of(m) for m in moments})
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
    """Mark the hours of every stored call of these traces (late attribution changes them)."""
    ids = sorted(set(trace_ids))
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {DirtyBucket._meta.db_table} (project_id, hour, marked_at)
                SELECT DISTINCT %s, date_trunc('hour', started_at), now()
                FROM {LlmCall._meta.db_table}
                WHERE project_id = %s AND trace_id = ANY(%s)
                ON CONFLICT (project_id, hour) DO UPDATE SET marked_at = now()""",
            [project.pk, project.pk, ids],
        )
        return cursor.rowcount
