"""Span builders for ingest tests: real OpenTelemetry SDK spans, encoded as real exporters do."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from costwatch.pricing.cost import TokenCounts
from ingest.canonical import LlmCall, MappedExport
from ingest.mapping import map_export
from ingest.messages import MessageText
from ingest.otlp import parse_export


class SpanRecorder:
    """A tracer provider recording to memory; ``mapped()`` runs the export through ingest."""

    def __init__(self, service: str = "shop-api", resource: Mapping[str, Any] | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service, **(resource or {})}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        scope: str = "test.scope",
        events: Sequence[tuple[str, Mapping[str, Any]]] = (),
        error: bool = False,
    ) -> Iterator[Span]:
        tracer = self.provider.get_tracer(scope)
        with tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {})) as span:
            for event_name, event_attributes in events:
                span.add_event(event_name, dict(event_attributes))
            if error:
                span.set_status(Status(StatusCode.ERROR, "provider error"))
            yield span

    def record(self, name: str, attributes: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        with self.span(name, attributes, **kwargs):
            pass

    def request(self) -> ExportTraceServiceRequest:
        return encode_spans(self.exporter.get_finished_spans())

    def payload(self) -> bytes:
        return self.request().SerializeToString()

    def mapped(self, **kwargs: Any) -> MappedExport:
        return map_export(parse_export(self.payload(), "application/x-protobuf"), **kwargs)

    def resolved(self, project: Any) -> list[Any]:
        """Through the front door: the real ingest service, then the rollup; the counted calls of
        every recorded trace with their resolved attribution (``costwatch.usage.queries.RequestCall``)."""
        from costwatch.usage.queries import request_calls
        from costwatch.usage.rollups import recompute_dirty
        from ingest.mapping import span_views
        from ingest.services import ingest_export

        request = self.request()
        ingest_export(project, request)
        recompute_dirty()
        traces = sorted({view.trace_id for view in span_views(request)})
        return [rc for trace in traces for rc in request_calls(project, trace) if rc.counted]

    def only_resolved(self, project: Any) -> Any:
        calls = self.resolved(project)
        assert len(calls) == 1, calls
        return calls[0]

    def only_call(self, **kwargs: Any) -> LlmCall:
        result = self.mapped(**kwargs)
        assert result.rejected == []
        assert len(result.calls) == 1, result.calls
        return result.calls[0]


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder()


@pytest.fixture
def make_recorder() -> type[SpanRecorder]:
    return SpanRecorder


def _words(text: str) -> int:
    return len(text.split())


def count_words(model: str | None, text: MessageText) -> TokenCounts:
    """A token estimator for tests: one token per word, +3 per prompt message."""
    return TokenCounts(input=sum(_words(m["content"]) + 3 for m in text.prompt), output=_words(text.completion))


@pytest.fixture
def redis_url() -> str:
    """The local Redis (the rate limiter's tests): the broker's when the broker is Redis (CI), else
    the default port."""
    import redis

    # The environment's broker, not settings': tests that reload the settings module may leave
    # pytest-django's settings without it.
    broker = os.environ.get("CELERY_BROKER_URL", "")
    url = broker if broker.startswith("redis://") else "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        raise AssertionError(f"the rate limiter's tests need a Redis at {url}: {exc}") from exc
    finally:
        client.close()
    return url
