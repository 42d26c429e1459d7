"""Real OTel SDK spans sent through the front door (``POST /v1/traces``), encoded by the OTLP
exporters' own encoder, as a stock OTLP/HTTP exporter sends them."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from rest_framework.test import APIClient


def post_spans(key: str, spans: Sequence[ReadableSpan]) -> None:
    """POST ``spans`` as one OTLP protobuf export with ingest key ``key``; asserts a 200."""
    response = APIClient().post(
        "/v1/traces",
        data=encode_spans(spans).SerializeToString(),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
