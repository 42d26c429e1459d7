"""The ingest service: one export in, priced calls committed in one transaction, a result out.

Both transports reach it through ``ingest.accept``; nothing here knows about HTTP or gRPC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from psycopg.errors import UniqueViolation

from costwatch.pricing.pricebook import PriceBook
from costwatch.projects.models import Project
from costwatch.usage.costing import CallRow, apply_price, catalog_tier
from costwatch.usage.dimensions import dimension_specs
from costwatch.usage.models import LlmCall, SpanAttribution
from costwatch.usage.services import mark_traces_dirty
from ingest.canonical import LlmCall as CanonicalCall
from ingest.canonical import MappedExport, TraceAttribution
from ingest.mapping import map_export
from ingest.validation import configured_window, reject_invalid_spans

MAX_REASONS_IN_MESSAGE = 5


@dataclass(frozen=True)
class IngestResult:
    accepted_calls: int
    rejected_spans: int
    error_message: str


def ingest_export(project: Project, request: ExportTraceServiceRequest) -> IngestResult:
    """Map, price and store one export. Returns only after the transaction committed.

    The write path builds no model instances: calls and span attributions are COPYed into
    per-session staging tables, then inserted with ``ON CONFLICT DO NOTHING`` (a re-sent span is
    stored once), and each trace gets an append-only mark for the rollup. Nothing here waits for a
    rollup run: no row a rollup holds is ever written by ingest.
    """
    mapped = map_export(
        request,
        feature_keys=("costwatch.feature", "app.feature", *settings.COSTWATCH_FEATURE_ATTRIBUTES),
        user_keys=tuple(settings.COSTWATCH_USER_ATTRIBUTES),
        dimensions=dimension_specs(project),
        keep_attributes=settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS > 0,
    )
    mapped = reject_invalid_spans(mapped, configured_window(), timezone.now())
    book = PriceBook(project)
    now = timezone.now()
    rows = [_call_row(project, call, book, now) for call in mapped.calls]
    with transaction.atomic(), connection.cursor() as cursor:
        _copy_insert(cursor, LlmCall, [list(_call_values(row)) for row in rows], _CALL_FIELDS)
        _copy_insert(
            cursor,
            SpanAttribution,
            [_attribution_values(project, a) for a in mapped.attributions],
            _ATTRIBUTION_FIELDS,
        )
        # Every trace touched: its new calls, and earlier calls whose attribution (a late root
        # span) or request count (a new first call) changes. The rollup recomputes the traces.
        mark_traces_dirty(project, {row.trace_id for row in rows} | {a.trace_id for a in mapped.attributions})
    return IngestResult(len(rows), len(mapped.rejected), _rejection_message(mapped))


_CALL_FIELDS = [f.attname for f in LlmCall._meta.concrete_fields if not f.primary_key]
_call_values = attrgetter(*_CALL_FIELDS)  # a CallRow's values in _CALL_FIELDS order
_ATTRIBUTION_FIELDS = [f.attname for f in SpanAttribution._meta.concrete_fields if not f.primary_key]
_JSON_FIELDS = {
    f.attname
    for model in (LlmCall, SpanAttribution)
    for f in model._meta.concrete_fields
    if f.get_internal_type() == "JSONField"
}


def _copy_insert(cursor, model: type[Model], rows: list[list[object]], fields: list[str]) -> None:  # noqa: ANN001
    """Store ``rows`` (values in ``fields`` order) in the model's table, skipping rows already
    stored (its unique constraint: a re-sent span is stored once).

    First try: COPY straight into the table, inside a savepoint. A re-sent span makes that COPY
    fail on the unique constraint; then the savepoint is rolled back and the rows are COPYed into
    a staging table (created once per database session, emptied at every commit) and inserted
    with ``INSERT … SELECT … ON CONFLICT DO NOTHING``. Fresh spans, the common case, are written
    once instead of twice and skip the speculative insertion of ``ON CONFLICT``.
    """
    if not rows:
        return
    table = model._meta.db_table
    by_attname = {f.attname: f.column for f in model._meta.concrete_fields}
    columns = ", ".join(f'"{by_attname[name]}"' for name in fields)
    json_positions = [i for i, name in enumerate(fields) if name in _JSON_FIELDS]
    for values in rows:
        for i in json_positions:
            if values[i] is not None:
                values[i] = _json(values[i])
    try:
        with transaction.atomic():
            _copy(cursor, table, columns, rows)
        return
    except IntegrityError as exc:
        if not isinstance(exc.__cause__, UniqueViolation):
            raise
        # a span stored before: insert what is new
    staging = f"ingest_{table}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"
    )
    _copy(cursor, staging, columns, rows)
    cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} ON CONFLICT DO NOTHING")


def _json(value: object) -> str:
    """JSON text of a stored attribute or count map, COPYed as text into its ``jsonb`` column:
    orjson, or the standard library for what orjson refuses (text that is not valid UTF-8;
    PostgreSQL then refuses it as before)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _copy(cursor, table: str, columns: str, rows: list[list[object]]) -> None:  # noqa: ANN001
    # psycopg's errors become Django's (QueryCanceled an OperationalError, as for any statement).
    with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(values)


def _rejection_message(mapped: MappedExport) -> str:
    if not mapped.rejected:
        return ""
    reasons = [r.reason for r in mapped.rejected[:MAX_REASONS_IN_MESSAGE]]
    more = len(mapped.rejected) - len(reasons)
    suffix = f"; and {more} more" if more else ""
    return f"{len(mapped.rejected)} span(s) rejected: " + "; ".join(reasons) + suffix


def _attribution_values(project: Project, a: TraceAttribution) -> list[object]:
    values = {
        "project_id": project.pk,
        "trace_id": a.trace_id,
        "span_id": a.span_id,
        "parent_span_id": a.parent_span_id or "",
        "is_root": a.parent_span_id is None,
        "started_at": a.start,
        "ended_at": a.end,
        "user": a.user or "",
        "feature": a.feature or "",
        "session": a.session or "",
        "route": a.route or "",
        "root_name": a.root_name or "",
        "dimensions": dict(a.dimensions) or None,
        "attributes": a.attributes,
    }
    return [values[name] for name in _ATTRIBUTION_FIELDS]


def _call_row(project: Project, call: CanonicalCall, book: PriceBook, now: datetime) -> CallRow:
    priced = book.price_for_call(
        call.model, call.request_model, call.start, provider=call.provider, service_tier=catalog_tier(call.service_tier)
    )
    row = CallRow(
        project_id=project.pk,
        trace_id=call.trace_id,
        span_id=call.span_id,
        parent_span_id=call.parent_span_id or "",
        provider=(call.provider or "")[:64],
        model=(call.model or "")[:200],
        request_model=(call.request_model or "")[:200],
        operation=call.operation[:32],
        dialect=call.dialect[:32],
        service=(call.service or "")[:200],
        started_at=call.start,
        ended_at=call.end,
        input_tokens=call.tokens.input,
        cache_read_tokens=call.tokens.cache_read,
        cache_write_tokens=call.tokens.cache_write,
        cache_write_1h_tokens=call.tokens.cache_write_1h,
        output_tokens=call.tokens.output,
        reasoning_tokens=call.tokens.reasoning,
        usage_state=call.usage_state,
        count_basis=call.count_basis,
        service_tier=call.service_tier or "",
        modality_tokens=call.tokens.modalities(),
        response_cache_hit=call.response_cache_hit,
        is_error=call.is_error,
        user=call.user or "",
        feature=call.feature or "",
        endpoint=call.endpoint or "",
        session=call.session or "",
        response_id=(call.response_id or "")[:256],
        reported_cost=call.reported_cost,
        received_at=now,
    )
    apply_price(row, priced)
    return row
