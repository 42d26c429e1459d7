"""Dialect adapters: one module per instrumentation family, registered here in precedence order.

Mapping asks the dialects in this order and the first whose ``claims`` accepts a span decides it:
a call (``to_call``), or no call for a span of its family that is not one. That order is the only
precedence: a family whose spans also carry another family's attributes comes before it (Vercel
and OpenInference spans carry gen_ai.* attributes, Traceloop spans the OTel usage names), so the
OTel GenAI conventions come last. No dialect refers to another. A dialect is asked only about
spans that carry one of its ``claim_keys``; ingest drops, before converting them, spans that carry
none of ``CLAIM_KEYS`` and nothing else mapping reads (``ingest.mapping``).

Adding a dialect: one module in this package implementing ``Dialect`` (``base.py``), one line in
``DIALECTS`` at its place in the order, and one test file ``tests/ingest/test_dialect_<name>.py``.
"""

from __future__ import annotations

from ingest.canonical import SpanView
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

# Every attribute key some dialect claims spans by: a span without one is no dialect's.
CLAIM_KEYS: frozenset[str] = frozenset(key for dialect in DIALECTS for key in dialect.claim_keys)


def claiming_dialect(span: SpanView) -> Dialect | None:
    """The first dialect, in ``DIALECTS`` order, that claims the span; None when none does."""
    carried = CLAIM_KEYS.intersection(span.attributes)
    if carried:
        for dialect in DIALECTS:
            if not carried.isdisjoint(dialect.claim_keys) and dialect.claims(span):
                return dialect
    return None


__all__ = ["CLAIM_KEYS", "DIALECTS", "Dialect", "InvalidSpan", "claiming_dialect"]
