"""Re-pricing stored calls after a price was added or corrected (``reprice``).

Every call in scope gets its cost again from the project's current price book, exactly as ingest
prices it (costwatch.usage.costing.apply_price). Only calls whose cost actually changes are
written, in batches of one transaction each, and the hours they fall in are marked dirty so the
rollups follow. Running it twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Field, Q
from django.utils.dateparse import parse_date, parse_datetime

from costwatch.pricing.pricebook import PriceBook
from costwatch.projects.calendar import ProjectCalendar
from costwatch.projects.models import Project
from costwatch.usage.costing import apply_price, catalog_tier
from costwatch.usage.models import MONEY, LlmCall
from costwatch.usage.services import bucket_of, mark_dirty

BATCH_SIZE = 5000
_MONEY_FIELDS = ("cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_total", "list_cost")
COST_FIELDS = (*_MONEY_FIELDS, "cost_source", "price", "price_key", "cost_approximate", "cost_note")
_READ_FIELDS = (
    "id",
    "started_at",
    "provider",
    "model",
    "request_model",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "response_cache_hit",
    "reported_cost",
    "usage_state",
    "service_tier",
    "modality_tokens",
    *_MONEY_FIELDS,
    "cost_source",
    "price_id",
    "price_key",
    "cost_approximate",
    "cost_note",
)
_STORED_STEP = Decimal(1).scaleb(-MONEY["decimal_places"])


class RepriceError(ValueError):
    """Bad re-pricing arguments; the message says which and why."""


@dataclass(frozen=True)
class RepriceResult:
    project: str
    checked: int  # calls in scope
    changed: int  # calls whose cost, price row or cost source changed
    priced: int  # calls in scope now priced from the catalog
    reported: int  # calls with no catalog price that keep the cost their span reported
    unpriced: int  # calls still unpriced (cost unknown)
    hours: int  # hours marked dirty for the rollups
    total_before: Decimal = Decimal(0)  # USD, sum of the costs the calls in scope had
    total_after: Decimal = Decimal(0)  # USD, sum of their costs now
    unpriced_before: int = 0  # calls in scope that had no cost (not counted as $0)
    record_id: int | None = None  # the pricing.Repricing row that records this run


def since_of(project: Project, value: str) -> datetime:
    """A ``--since`` value: a date (midnight in the project's time zone) or an ISO 8601 datetime
    (a naive one is read in the project's time zone too)."""
    text = value.strip()
    moment = parse_datetime(text) if ("T" in text or " " in text) else None
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=project.tz)
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        raise RepriceError(f"since={value!r} is not a date (YYYY-MM-DD) or an ISO 8601 datetime")
    return ProjectCalendar.of(project).midnight(day)


def _as_stored(value: Decimal | None) -> Decimal | None:
    # The column keeps 12 decimals and PostgreSQL rounds half away from zero (costs are never
    # negative, so that is ROUND_HALF_UP); comparing unrounded values would never be idempotent.
    return None if value is None else value.quantize(_STORED_STEP, rounding=ROUND_HALF_UP)


def _cost_state(call: LlmCall) -> tuple[object, ...]:
    return (
        *(getattr(call, name) for name in _MONEY_FIELDS),
        call.cost_source,
        call.price_id,
        call.price_key,
        call.cost_approximate,
        call.cost_note,
    )


_COLUMN_TYPES = {
    **dict.fromkeys(_MONEY_FIELDS, "numeric"),
    "cost_source": "text",
    "price": "bigint",
    "price_key": "text",
    "cost_approximate": "boolean",
    "cost_note": "text",
}


def _column(name: str) -> str:
    """The table column of a concrete ``LlmCall`` field (``price`` → ``price_id``)."""
    field = LlmCall._meta.get_field(name)
    assert isinstance(field, Field) and field.column is not None, f"LlmCall.{name} is not a column"
    return field.column


def _write_costs(project: Project, calls: list[LlmCall]) -> None:
    """One UPDATE ... FROM unnest(...) for a batch.

    bulk_update's CASE WHEN per row took ~4 ms a row on the partitioned calls table; joining on
    the full key (id, started_at) lets PostgreSQL find each row in its own partition.
    """
    table = LlmCall._meta.db_table
    columns = {name: _column(name) for name in COST_FIELDS}
    assignments = ", ".join(f"{column} = v.{column}" for column in columns.values())
    arrays = ", ".join(f"%s::{_COLUMN_TYPES[name]}[]" for name in COST_FIELDS)
    params: list[Any] = [[call.pk for call in calls], [call.started_at for call in calls]]
    params += [[getattr(call, column) for call in calls] for column in columns.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS c SET {assignments}
                FROM unnest(%s::bigint[], %s::timestamptz[], {arrays})
                     AS v(id, started_at, {", ".join(columns.values())})
                WHERE c.project_id = %s AND c.id = v.id AND c.started_at = v.started_at""",
            [*params, project.pk],
        )


def reprice_calls(
    project: Project,
    *,
    since: datetime | None = None,
    model: str | None = None,
    batch_size: int = BATCH_SIZE,
    by: str = "",
) -> RepriceResult:
    """Price the project's stored calls again with its current catalog, overrides and aliases.

    ``since`` keeps calls started at or after it; ``model`` keeps calls that reported, asked for
    or were priced as that model (exact name). Calls of other projects are never read. Each run
    is recorded (``pricing.Repricing``: ``by``, when, the range, totals before and after in USD
    and the unpriced counts), shown on the pricing page.
    """
    if batch_size < 1:
        raise RepriceError("batch size must be at least 1")
    book = PriceBook(project)
    calls = LlmCall.objects.filter(project=project)
    if since is not None:
        calls = calls.filter(started_at__gte=since)
    if model:
        calls = calls.filter(Q(model=model) | Q(request_model=model) | Q(price_key=model))
    calls = calls.only(*_READ_FIELDS).order_by("started_at", "id")
    checked = changed = priced = reported = unpriced = unpriced_before = 0
    total_before = total_after = Decimal(0)
    hours: set[datetime] = set()
    after: tuple[datetime, int] | None = None
    while True:
        with transaction.atomic():
            page = calls
            if after is not None:
                page = page.filter(Q(started_at__gt=after[0]) | Q(started_at=after[0], id__gt=after[1]))
            batch = list(page.select_for_update()[:batch_size])
            if not batch:
                break
            touched = []
            for call in batch:
                before = _cost_state(call)
                if call.cost_total is None:
                    unpriced_before += 1
                else:
                    total_before += call.cost_total
                apply_price(
                    call,
                    book.price_for_call(
                        call.model,
                        call.request_model,
                        call.started_at,
                        provider=call.provider,
                        service_tier=catalog_tier(call.service_tier),
                    ),
                )
                for name in _MONEY_FIELDS:
                    setattr(call, name, _as_stored(getattr(call, name)))
                if _cost_state(call) != before:
                    touched.append(call)
                if call.cost_total is not None:
                    total_after += call.cost_total
                if call.cost_source == "computed":
                    priced += 1
                elif call.cost_total is None:
                    unpriced += 1
                else:
                    reported += 1
            if touched:
                _write_costs(project, touched)
                moments = [call.started_at for call in touched]
                mark_dirty(project, moments)
                hours.update(bucket_of(moment, project.tz) for moment in moments)
        checked += len(batch)
        changed += len(touched)
        after = (batch[-1].started_at, batch[-1].id)
        if len(batch) < batch_size:
            break
    from costwatch.pricing.models import Repricing

    record = Repricing.objects.create(
        project=project,
        by=(by or "unknown")[:150],
        since=since,
        model=model or "",
        checked=checked,
        changed=changed,
        total_before=total_before,
        total_after=total_after,
        unpriced_before=unpriced_before,
        unpriced_after=unpriced,
    )
    return RepriceResult(
        project.slug,
        checked,
        changed,
        priced,
        reported,
        unpriced,
        len(hours),
        total_before,
        total_after,
        unpriced_before,
        record.pk,
    )
