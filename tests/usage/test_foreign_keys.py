"""The per-span and per-trace tables keep their foreign keys in Django, not in PostgreSQL (issue 14:
the checks cost ~4.5 ms of a 512-span export's commit). What the constraints guaranteed still
holds through the ORM: a deleted project takes its calls, span attributions, trace marks, rollup
parts and request rollups with it, and leaves other projects alone; a price that priced a call
cannot be deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.models import ProtectedError
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from costwatch.pricing.models import ModelPrice
from costwatch.projects.models import Project
from costwatch.usage.models import DirtyTrace, LlmCall, RequestRollup, RollupPart, SpanAttribution
from costwatch.usage.rollups import recompute_dirty
from tests.otlp_client import post_spans

PER_SPAN_TABLES = (LlmCall, SpanAttribution, DirtyTrace, RollupPart, RequestRollup)


def _send(key: str, traces: int) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    for _ in range(traces):
        root = tracer.start_span(
            "POST /chat", kind=SpanKind.SERVER, attributes={"http.route": "/chat", "enduser.id": "u1"}
        )
        context = otel_trace.set_span_in_context(root)
        call = tracer.start_span(
            "chat gpt-4o-mini",
            context=context,
            kind=SpanKind.CLIENT,
            start_time=int(start.timestamp() * 1e9),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 10,
            },
        )
        call.end()
        root.end()
    post_spans(key, exporter.get_finished_spans())


def _counts(project: Project) -> dict[str, int]:
    return {model.__name__: model.objects.filter(project_id=project.pk).count() for model in PER_SPAN_TABLES}


def test_the_tables_written_per_span_have_no_database_foreign_keys(db) -> None:  # noqa: ANN001
    tables = [model._meta.db_table for model in PER_SPAN_TABLES]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid::regclass::text = ANY(%s)",
            [tables],
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_deleting_a_project_deletes_its_ingested_rows_and_no_others(
    default_catalog, acme, globex, acme_ingest_key, globex_ingest_key
) -> None:  # noqa: ANN001
    _send(acme_ingest_key, 3)
    _send(globex_ingest_key, 2)
    before = _counts(acme)
    assert before["DirtyTrace"] == 3 and before["LlmCall"] == 3 and before["SpanAttribution"] == 6
    recompute_dirty()
    _send(acme_ingest_key, 1)  # a mark left pending
    acme_rows = _counts(acme)
    assert all(acme_rows.values()), acme_rows
    globex_rows = _counts(globex)
    assert globex_rows == {
        "LlmCall": 2,
        "SpanAttribution": 4,
        "DirtyTrace": 0,
        "RollupPart": globex_rows["RollupPart"],
        "RequestRollup": 2,
    }
    assert globex_rows["RollupPart"] > 0

    acme.delete()

    assert _counts(acme) == dict.fromkeys(globex_rows, 0)
    assert _counts(globex) == globex_rows


@pytest.mark.django_db
def test_a_price_that_priced_a_call_cannot_be_deleted(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    _send(acme_ingest_key, 1)
    call = LlmCall.objects.get(project=acme)
    assert call.price_id is not None
    price = ModelPrice.objects.get(pk=call.price_id)
    with pytest.raises(ProtectedError):
        price.delete()
    assert ModelPrice.objects.filter(pk=call.price_id).exists()
