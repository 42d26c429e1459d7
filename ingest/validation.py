"""Per-span checks before storage: what PostgreSQL cannot hold or no page would ever show.

A span that fails is rejected alone, with a message, through ``partial_success``; the rest of
the export is stored. Nothing here makes the whole export fail or retry.

- **Text PostgreSQL cannot store.** ``text`` columns refuse U+0000 (NUL), and a lone UTF-16
  surrogate has no UTF-8 form. A call or an attribution carrying one in any string (user id,
  model, route, session, ...) is rejected, naming the field.
- **Time window.** A call must start no earlier than ``COSTWATCH_INGEST_MAX_AGE_DAYS`` days
  (default 31) and no later than ``COSTWATCH_INGEST_MAX_FUTURE_SECONDS`` (default 3600) after the
  moment of ingest, and must not end before it starts. Raise the age for a backfill.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.canonical import LlmCall, MappedExport, RejectedSpan, TraceAttribution

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class TimeWindow:
    """Accepted call start times relative to ``now`` (UTC)."""

    max_age: timedelta
    max_future: timedelta

    def problem(self, start: datetime, end: datetime, now: datetime) -> str | None:
        if start < now - self.max_age:
            return (
                f"start time {start.isoformat()} is more than {self.max_age.days} days before now "
                f"(COSTWATCH_INGEST_MAX_AGE_DAYS; raise it to backfill)"
            )
        if start > now + self.max_future:
            return (
                f"start time {start.isoformat()} is more than {int(self.max_future.total_seconds())}s "
                f"in the future (COSTWATCH_INGEST_MAX_FUTURE_SECONDS)"
            )
        if end < start:
            return f"end time {end.isoformat()} is before start time {start.isoformat()}"
        return None


def unstorable_text(obj: object, fields: Iterable[str]) -> str | None:
    """The first of ``fields`` of ``obj`` holding NUL or a lone surrogate, described; else None."""
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, str):
            found = _UNSTORABLE.search(value)
            if found:
                char = found.group()
                what = "U+0000 (NUL)" if char == "\x00" else f"a lone surrogate U+{ord(char):04X}"
                return f"{name} contains {what}, which cannot be stored"
    return None


_CALL_TEXT = tuple(
    f.name for f in dataclasses.fields(LlmCall) if f.name not in {"trace_id", "span_id", "parent_span_id"}
)
_ATTRIBUTION_TEXT = ("user", "feature", "session", "route", "root_name")
_call_values = operator.attrgetter(*_CALL_TEXT)
_attribution_values = operator.attrgetter(*_ATTRIBUTION_TEXT)


def _any_unstorable_text(mapped: MappedExport) -> bool:
    """Whether any text field of any call or attribution holds NUL or a lone surrogate: one search
    over all of them, since nearly no export has one (then each is looked at alone)."""
    texts = [value for call in mapped.calls for value in _call_values(call) if isinstance(value, str)]
    texts += [value for row in mapped.attributions for value in _attribution_values(row) if isinstance(value, str)]
    texts += [value for row in mapped.attributions if row.dimensions for value in row.dimensions.values()]
    return _UNSTORABLE.search("\n".join(texts)) is not None


def _unstorable_dimension(attribution: TraceAttribution) -> str | None:
    for value in attribution.dimensions.values():
        if _UNSTORABLE.search(value):
            return "a custom dimension's value contains U+0000 (NUL) or a lone surrogate, which cannot be stored"
    return None


def reject_invalid_spans(mapped: MappedExport, window: TimeWindow, now: datetime) -> MappedExport:
    """``mapped`` without the calls and attributions that cannot be stored or charged.

    Each dropped span becomes one ``RejectedSpan`` (a span that is both a call and an
    attribution is rejected once, and loses both).
    """
    rejected = list(mapped.rejected)
    bad: dict[tuple[str, str], str] = {}
    check_text = _any_unstorable_text(mapped)
    for call in mapped.calls:
        problem = unstorable_text(call, _CALL_TEXT) if check_text else None
        problem = problem or window.problem(call.start, call.end, now)
        if problem:
            bad[(call.trace_id, call.span_id)] = problem
    for attribution in mapped.attributions if check_text else ():
        key = (attribution.trace_id, attribution.span_id)
        if key not in bad:
            problem = unstorable_text(attribution, _ATTRIBUTION_TEXT) or _unstorable_dimension(attribution)
            if problem:
                bad[key] = problem
    if not bad:
        return mapped
    rejected += [
        RejectedSpan(trace_id, span_id, f"span {span_id}: {problem}") for (trace_id, span_id), problem in bad.items()
    ]
    return MappedExport(
        calls=[c for c in mapped.calls if (c.trace_id, c.span_id) not in bad],
        attributions=[a for a in mapped.attributions if (a.trace_id, a.span_id) not in bad],
        rejected=rejected,
    )


def configured_window() -> TimeWindow:
    from django.conf import settings

    return TimeWindow(
        max_age=timedelta(days=settings.COSTWATCH_INGEST_MAX_AGE_DAYS),
        max_future=timedelta(seconds=settings.COSTWATCH_INGEST_MAX_FUTURE_SECONDS),
    )
