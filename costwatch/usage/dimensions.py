"""Custom dimensions: a project's own business dimensions (tenant, plan, A/B variant, environment).

A dimension is a name and the span or resource attribute keys it reads, first match wins (a span's
attributes before its resource's, as for the user). Like the user and the feature, each stored span
keeps only its own value (``SpanAttribution.dimensions``) and the rollup resolves a call's value
through its trace (``costwatch.usage.rollups``): its own span, its nearest ancestor, the enclosing
span, the root. A call with no value is grouped under the empty key, shown as "(not set)".

**Backfill.** Ingest keeps every stored span's short scalar attributes for
``COSTWATCH_SPAN_ATTRIBUTES_DAYS`` (``SpanAttribution.attributes``; strings and integers up to
1,024 characters, no prompt or completion content). Adding a dimension or changing its keys
re-reads those attributes and recomputes every hour of the project, so the new dimension covers
that window exactly. Spans older than the window keep the values they had (none, for a new
dimension): their calls count under "(not set)". Spans Costwatch never stored (plain HTTP,
database or queue spans with no attribution) cannot be backfilled.

**Cardinality guard.** Each dimension keeps at most ``max_values_per_day`` distinct values per
local day (default ``COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY``), admitted in the order the rollup
meets them (hour by hour, then by first call). Calls with a value past the limit are grouped
under ``(other)`` and the day is recorded as overflowed (``DimensionOverflow``), which the API,
the pages and the alerts show as a warning. A value once admitted stays admitted, so rollups
stay exact and idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from costwatch.projects.calendar import ProjectCalendar
from costwatch.projects.models import Project
from costwatch.usage.models import (
    CustomDimension,
    DimensionOverflow,
    DimensionValue,
    DirtyBucket,
    LlmCall,
    RollupDay,
    RollupHour,
    RollupMonth,
    SpanAttribution,
)
from costwatch.usage.services import BUCKET_SQL, bucket_minutes
from ingest.canonical import DimensionSpec

if TYPE_CHECKING:  # queries imports this module
    from costwatch.usage.queries import Period

OTHER = "(other)"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_KEYS = 10
MAX_KEY_CHARS = 256
MAX_VALUES_PER_DAY = 1_000_000
# Names that are built-in groups or query parameters of the cost API and the pages.
RESERVED_NAMES = frozenset(
    {
        "user",
        "feature",
        "endpoint",
        "model",
        "provider",
        "conversation",
        "day",
        "hour",
        "total",
        "session",
        "start",
        "end",
        "group_by",
        "ordering",
        "page",
        "page_size",
        "format",
        "project",
        "search",
        "sort",
        "range",
        "dimension",
        "compare",
        "a",
        "b",
        "q",
        "other",
        "key",
        "users",
        "features",
        "endpoints",
        "models",
    }
)


class DimensionError(ValueError):
    """An invalid dimension: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def dimensions_of(project: Project) -> list[CustomDimension]:
    """The project's custom dimensions, by name."""
    return list(CustomDimension.objects.filter(project=project).order_by("name"))


def dimension_named(project: Project, name: str) -> CustomDimension | None:
    return CustomDimension.objects.filter(project=project, name=name).first()


def dimension_specs(project: Project) -> tuple[DimensionSpec, ...]:
    """What ingest reads for the project's dimensions: (id, attribute keys) each."""
    return tuple(
        DimensionSpec(str(pk), tuple(keys))
        for pk, keys in CustomDimension.objects.filter(project=project)
        .order_by("pk")
        .values_list("pk", "attribute_keys")
    )


def validate_dimension(
    project: Project,
    *,
    name: str,
    attribute_keys: Sequence[str],
    max_values_per_day: int | None,
    instance: CustomDimension | None = None,
) -> dict:
    """The cleaned fields of a dimension, or ``DimensionError`` naming each bad field.

    ``name``: 1-32 of a-z, 0-9 and _, starting with a letter, not a built-in group or query
    parameter, unique in the project. ``attribute_keys``: 1-10 non-blank keys of at most 256
    characters. ``max_values_per_day``: 1 to 1,000,000 (default ``COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY``).
    """
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        errors["name"] = "use 1 to 32 lower-case letters, digits and _, starting with a letter (e.g. tenant)"
    elif name in RESERVED_NAMES:
        errors["name"] = f"{name!r} is a built-in group or query parameter; choose another name"
    elif (
        CustomDimension.objects.filter(project=project, name=name)
        .exclude(pk__in=[instance.pk] if instance else [])
        .exists()
    ):
        errors["name"] = f"this project already has a dimension named {name!r}"
    keys = (
        [key.strip() for key in attribute_keys if isinstance(key, str) and key.strip()]
        if isinstance(attribute_keys, (list, tuple))
        else []
    )
    if not keys:
        errors["attribute_keys"] = "give at least one span or resource attribute key (e.g. app.tenant_id)"
    elif len(keys) > MAX_KEYS:
        errors["attribute_keys"] = f"at most {MAX_KEYS} keys"
    elif any(len(key) > MAX_KEY_CHARS for key in keys):
        errors["attribute_keys"] = f"a key may have at most {MAX_KEY_CHARS} characters"
    elif len(set(keys)) != len(keys):
        errors["attribute_keys"] = "a key is listed twice"
    if max_values_per_day is None:
        max_values_per_day = (
            instance.max_values_per_day if instance else settings.COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY
        )
    if (
        isinstance(max_values_per_day, bool)
        or not isinstance(max_values_per_day, int)
        or not 1 <= max_values_per_day <= MAX_VALUES_PER_DAY
    ):
        errors["max_values_per_day"] = f"a whole number from 1 to {MAX_VALUES_PER_DAY:,}"
    if (
        instance is None
        and CustomDimension.objects.filter(project=project).count() >= settings.COSTWATCH_MAX_DIMENSIONS
    ):
        errors["name"] = (
            f"a project has at most {settings.COSTWATCH_MAX_DIMENSIONS} dimensions (COSTWATCH_MAX_DIMENSIONS)"
        )
    if errors:
        raise DimensionError(errors)
    return {"name": name, "attribute_keys": keys, "max_values_per_day": max_values_per_day}


def save_dimension(
    project: Project,
    *,
    name: str,
    attribute_keys: Sequence[str],
    max_values_per_day: int | None = None,
    instance: CustomDimension | None = None,
) -> CustomDimension:
    """Create or change a dimension (validated by ``validate_dimension``). A new dimension, or new
    attribute keys, are backfilled from the kept span attributes by the worker after commit; a new
    limit applies to the days the rollup recomputes next. Raises ``DimensionError``.
    """
    cleaned = validate_dimension(
        project, name=name, attribute_keys=attribute_keys, max_values_per_day=max_values_per_day, instance=instance
    )
    with transaction.atomic():
        if instance is None:
            dimension = CustomDimension.objects.create(project=project, backfill_requested_at=timezone.now(), **cleaned)
            needs_backfill = True
        else:
            dimension = CustomDimension.objects.select_for_update().get(pk=instance.pk)
            needs_backfill = dimension.attribute_keys != cleaned["attribute_keys"]
            for field, value in cleaned.items():
                setattr(dimension, field, value)
            if needs_backfill:
                dimension.backfill_requested_at = timezone.now()
            dimension.save()
        if needs_backfill:
            from costwatch.usage.tasks import backfill_dimension_task

            transaction.on_commit(lambda: backfill_dimension_task.delay(dimension.pk))
    return dimension


def rules_using(dimension: CustomDimension) -> list[str]:
    """Names of the alert rules scoped by this dimension."""
    from alerts.models import Rule

    return list(
        Rule.objects.filter(project_id=dimension.project_id, scope=dimension.rollup_dimension).values_list(
            "name", flat=True
        )
    )


def delete_dimension(dimension: CustomDimension) -> None:
    """Delete a dimension and its rollups. Raises ``DimensionError`` while alert rules use it.

    The dimension's row is locked before the rules are looked up: ``alerts.rules.save_rule``
    locks it too while it saves a rule scoped by it, so no rule can slip in between."""
    with transaction.atomic():
        if not CustomDimension.objects.select_for_update().filter(pk=dimension.pk).exists():
            return
        rules = rules_using(dimension)
        if rules:
            raise DimensionError(
                {
                    "name": f"alert rule(s) {', '.join(sorted(rules))} are scoped by {dimension.name}; "
                    "change or delete them first"
                }
            )
        for model in (RollupHour, RollupDay, RollupMonth):
            model.objects.filter(project_id=dimension.project_id, dimension=dimension.rollup_dimension).delete()
        dimension.delete()


def backfill_dimension(dimension_id: int) -> int:
    """Re-read a dimension's value of every stored span that still has its attributes kept, then
    mark every hour of the project dirty (the rollup recomputes them, admitting values afresh).

    Returns the number of spans updated. Idempotent; a dimension deleted meanwhile is a no-op.
    """
    dimension = CustomDimension.objects.filter(pk=dimension_id).first()
    if dimension is None:
        return 0
    key = str(dimension.pk)
    sources = [
        f"NULLIF(btrim(attributes -> '{part}' ->> %(k{i})s), '')"
        for part in ("span", "resource")
        for i in range(len(dimension.attribute_keys))
    ]
    params: dict[str, str | int] = {f"k{i}": k for i, k in enumerate(dimension.attribute_keys)}
    params.update(project=dimension.project_id, dim=key)
    project = Project.objects.get(pk=dimension.project_id)
    with transaction.atomic(), connection.cursor() as cursor:
        # Serialises with the rollup's admissions of this dimension (see admit_values).
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('dimension:' || %s, 0))", [key])
        cursor.execute(
            f"""UPDATE {SpanAttribution._meta.db_table} SET dimensions = CASE
                    WHEN value IS NULL THEN NULLIF(COALESCE(dimensions, '{{}}'::jsonb) - %(dim)s, '{{}}'::jsonb)
                    ELSE COALESCE(dimensions, '{{}}'::jsonb) || jsonb_build_object(%(dim)s, value) END
                FROM (SELECT id AS span_row, COALESCE({", ".join(sources)}) AS value
                      FROM {SpanAttribution._meta.db_table}
                      WHERE project_id = %(project)s AND attributes IS NOT NULL) AS src
                WHERE id = src.span_row
                  AND (dimensions ->> %(dim)s) IS DISTINCT FROM src.value""",
            params,
        )
        updated = cursor.rowcount
        DimensionValue.objects.filter(dimension=dimension).delete()
        DimensionOverflow.objects.filter(dimension=dimension).delete()
        cursor.execute(
            f"""INSERT INTO {DirtyBucket._meta.db_table} (project_id, hour, marked_at)
                SELECT DISTINCT %(project)s, {BUCKET_SQL.format(column="started_at")}, now()
                FROM {LlmCall._meta.db_table} WHERE project_id = %(project)s
                ON CONFLICT (project_id, hour) DO UPDATE SET marked_at = now()""",
            {"project": project.pk, "bucket_minutes": bucket_minutes(project.tz)},
        )
        CustomDimension.objects.filter(pk=dimension.pk).update(backfilled_at=timezone.now())
    return updated


def purge_span_attributes(now: datetime | None = None, batch: int = 5000) -> int:
    """Drop the kept attributes of spans that started more than COSTWATCH_SPAN_ATTRIBUTES_DAYS
    ago (their dimension values stay). Returns the number of spans purged."""
    days = settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    table = SpanAttribution._meta.db_table
    purged = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""WITH picked AS MATERIALIZED (
                        SELECT id FROM {table} WHERE attributes IS NOT NULL
                          AND (started_at < %(cutoff)s OR started_at IS NULL)
                        ORDER BY id FOR UPDATE SKIP LOCKED LIMIT %(batch)s)
                    UPDATE {table} AS s SET attributes = NULL FROM picked WHERE s.id = picked.id""",
                {"cutoff": cutoff, "batch": batch},
            )
            count = cursor.rowcount
        purged += count
        if count < batch:
            return purged


def admit_values(cursor, project_id: int, table: str) -> None:  # noqa: ANN001 - DB cursor
    """Admit the new values of ``table`` (rows of ``dim``, ``value``, ``started_at``, ``local_day``)
    for each local day of the project, up to each dimension's limit per day, first met first; record
    overflowed days. Called by the rollup inside its transaction; serialised per dimension by an
    advisory lock."""
    limits = dict(CustomDimension.objects.filter(project_id=project_id).values_list("pk", "max_values_per_day"))
    cursor.execute(f"SELECT DISTINCT local_day FROM {table} ORDER BY 1")
    days = [row[0] for row in cursor.fetchall()]
    for pk in sorted(limits):
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('dimension:' || %s, 0))", [str(pk)])
        for day in days:
            _admit_day(cursor, pk, limits[pk], day, table)


def _admit_day(cursor, pk: int, limit: int, day: date, table: str) -> None:  # noqa: ANN001 - DB cursor
    cursor.execute(
        f"SELECT count(*) FROM {DimensionValue._meta.db_table} WHERE dimension_id = %s AND day = %s", [pk, day]
    )
    room = limit - cursor.fetchone()[0]
    cursor.execute(
        f"""SELECT value FROM {table} t WHERE dim = %(dim)s AND local_day = %(day)s AND value <> ''
              AND NOT EXISTS (SELECT 1 FROM {DimensionValue._meta.db_table} v WHERE v.dimension_id = %(pk)s
                                AND v.day = %(day)s AND md5(v.value) = md5(t.value) AND v.value = t.value)
            GROUP BY value ORDER BY min(started_at), value""",
        {"dim": str(pk), "pk": pk, "day": day},
    )
    new = [row[0] for row in cursor.fetchall()]
    if not new:
        return
    if room > 0:
        cursor.execute(
            f"""INSERT INTO {DimensionValue._meta.db_table} (dimension_id, day, value)
                SELECT %s, %s, v FROM unnest(%s::text[]) AS v ON CONFLICT DO NOTHING""",
            [pk, day, new[:room]],
        )
    if len(new) > room:
        cursor.execute(
            f"""INSERT INTO {DimensionOverflow._meta.db_table} (dimension_id, day) VALUES (%s, %s)
                ON CONFLICT DO NOTHING""",
            [pk, day],
        )


@dataclass(frozen=True)
class Overflow:
    """A dimension that grouped values under (other) on some days of a period."""

    dimension: str
    days: list[date]
    limit: int

    @property
    def message(self) -> str:
        shown = ", ".join(day.isoformat() for day in self.days[:5])
        more = f" and {len(self.days) - 5} more" if len(self.days) > 5 else ""
        return (
            f"{self.dimension} had more than {self.limit} distinct values on {shown}{more}; "
            f"the values past the limit are grouped under {OTHER}"
        )


def overflows_of(project: Project, dimensions: Sequence[CustomDimension], first: date, last: date) -> list[Overflow]:
    """The dimensions among ``dimensions`` that overflowed on local days ``first``..``last`` (inclusive)."""
    found = []
    for dimension in dimensions:
        days = list(
            DimensionOverflow.objects.filter(dimension=dimension, day__gte=first, day__lte=last)
            .order_by("day")
            .values_list("day", flat=True)
        )
        if days:
            found.append(Overflow(dimension.name, days, dimension.max_values_per_day))
    return found


def overflow_warnings(project: Project, period: Period, dimensions: Sequence[CustomDimension]) -> list[str]:
    """Why some rows of these custom dimensions read (other) over ``period``: one message per
    dimension that saw more values than it keeps on some local day of the period (none: [])."""
    if not dimensions:
        return []
    first, last = ProjectCalendar.of(project).days_of(period.start, period.end)
    return [overflow.message for overflow in overflows_of(project, dimensions, first, last)]


@dataclass(frozen=True)
class DimensionStatus:
    """A custom dimension as the API and the Dimensions page show it: its settings, whether its
    backfill still waits for the worker, and the local days of the last 30 it overflowed."""

    name: str
    attribute_keys: list[str]
    max_values_per_day: int
    created_at: datetime
    backfill_requested_at: datetime | None
    backfilled_at: datetime | None
    backfill_pending: bool  # requested and not done since (backfilled_at older than the request, or None)
    overflow_days_last_30: list[date]

    @property
    def group_by(self) -> str:
        """The cost API's ``group_by`` (and filter) for this dimension: its name."""
        return self.name


def dimension_status(dimension: CustomDimension) -> DimensionStatus:
    """The dimension's settings, backfill state and overflow days of the last 30 (project's calendar)."""
    project = dimension.project
    today = ProjectCalendar.of(project).date_of(timezone.now())
    overflow = overflows_of(project, [dimension], today - timedelta(days=29), today)
    pending = dimension.backfill_requested_at is not None and (
        dimension.backfilled_at is None or dimension.backfilled_at < dimension.backfill_requested_at
    )
    return DimensionStatus(
        name=dimension.name,
        attribute_keys=list(dimension.attribute_keys),
        max_values_per_day=dimension.max_values_per_day,
        created_at=dimension.created_at,
        backfill_requested_at=dimension.backfill_requested_at,
        backfilled_at=dimension.backfilled_at,
        backfill_pending=pending,
        overflow_days_last_30=overflow[0].days if overflow else [],
    )
