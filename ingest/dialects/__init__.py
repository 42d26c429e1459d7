"""Dialect adapters: one module per instrumentation family, registered here in precedence order.

Mapping asks the dialects in this order and the first whose ``claims`` accepts a span decides it:
a call (``to_call``), or no call for a span of its family that is not one. That order is the only
precedence: a family whose spans also carry another family's attributes comes before it (Vercel
and OpenInference spans carry gen_ai.* attributes, Traceloop spans the OTel usage names), so the
OTel GenAI conventions come last. No dialect refers to another.

Adding a dialect: one module in this package implementing ``Dialect`` (``base.py``), one line in
``DIALECTS`` at its place in the order, and one test file ``tests/ingest/test_dialect_<name>.py``.
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
