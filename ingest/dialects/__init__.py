"""Dialect adapters: one module per instrumentation family, registered here in precedence order.

The first dialect that claims a span maps it, so the most specific come first: Vercel and
OpenInference spans also carry gen_ai.* attributes, and Traceloop spans use the OTel names.
"""
from __future__ import annotations

from ingest.dialects.base import Dialect, InvalidSpan
from ingest.dialects.openinference import OpenInferenceDialect
from ingest.dialects.otel_genai import OtelGenAiDialect
from ingest.dialects.traceloop import TraceloopDialect
from ingest.dialects.vercel import VercelDialect

DIALECTS: tuple[Dialect, ...] = (
    VercelDialect(),
    OpenInferenceDialect(),
    TraceloopDialect(),
    OtelGenAiDialect(),
)

__all__ = ["DIALECTS", "Dialect", "InvalidSpan"]
