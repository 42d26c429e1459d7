"""The ingest service: one export in, priced calls committed in one transaction, a result out.

Both transports reach it through ``ingest.accept``; nothing here knows about HTTP or gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from costwatch.pricing.pricebook import PriceBook
from costwatch.projects.models import Project
from costwatch.usage.costing import apply_price, catalog_tier
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
    """Map, price and store one export. Returns only after the transaction committed."""
    mapped = map_export(
        request,
        feature_keys=("costwatch.feature", "app.feature", *settings.COSTWATCH_FEATURE_ATTRIBUTES),
        user_keys=tuple(settings.COSTWATCH_USER_ATTRIBUTES),
        dimensions=dimension_specs(project),
        keep_attributes=settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS > 0,
    )
    mapped = reject_invalid_spans(mapped, configured_window(), timezone.now())
    book = PriceBook(project)
    rows = [_call_row(project, call, book) for call in mapped.calls]
    attributions = [_attribution_row(project, a) for a in mapped.attributions]
    with transaction.atomic():
        LlmCall.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        SpanAttribution.objects.bulk_create(attributions, ignore_conflicts=True, batch_size=500)
        # Every hour holding a call of these traces: the new calls' own hours, and earlier calls
        # whose attribution (a late root span) or request count (a new first call) changes.
        mark_traces_dirty(project, {row.trace_id for row in rows} | {a.trace_id for a in attributions})
    return IngestResult(len(rows), len(mapped.rejected), _rejection_message(mapped))


def _rejection_message(mapped: MappedExport) -> str:
    if not mapped.rejected:
        return ""
    reasons = [r.reason for r in mapped.rejected[:MAX_REASONS_IN_MESSAGE]]
    more = len(mapped.rejected) - len(reasons)
    suffix = f"; and {more} more" if more else ""
    return f"{len(mapped.rejected)} span(s) rejected: " + "; ".join(reasons) + suffix


def _attribution_row(project: Project, a: TraceAttribution) -> SpanAttribution:
    return SpanAttribution(
        project=project,
        trace_id=a.trace_id,
        span_id=a.span_id,
        parent_span_id=a.parent_span_id or "",
        is_root=a.parent_span_id is None,
        started_at=a.start,
        ended_at=a.end,
        user=a.user or "",
        feature=a.feature or "",
        session=a.session or "",
        route=a.route or "",
        root_name=a.root_name or "",
        dimensions=dict(a.dimensions) or None,
        attributes=a.attributes,
    )


def _call_row(project: Project, call: CanonicalCall, book: PriceBook) -> LlmCall:
    priced = book.price_for_call(
        call.model, call.request_model, call.start, provider=call.provider, service_tier=catalog_tier(call.service_tier)
    )
    row = LlmCall(
        project=project,
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
    )
    apply_price(row, priced)
    return row
