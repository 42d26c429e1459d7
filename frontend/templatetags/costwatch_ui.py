"""Display filters: money, rates and counts as people read them. Formatting only, no arithmetic on costs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince, timeuntil

from costwatch.display import visible_controls
from costwatch.money import column_decimals as money_column_decimals
from costwatch.money import format_usd, format_usd_exact

register = template.Library()
_CONTROL_MARK = re.compile(r"&lt;U\+[0-9A-F]{4,6}&gt;")


@register.filter
def usd(value: Decimal | None, decimals: int | None = None) -> str:
    """$1,234.56 with ``decimals`` places (a column's, from ``column_decimals``); None → "unpriced".

    Without ``decimals``: as many as the value needs to keep two significant digits (at least 2).
    The rule lives in ``costwatch.money``.
    """
    return format_usd(value, decimals)


@register.filter
def usd_known(value: Decimal | None) -> str:
    """Money that may be unknown (no call priced): "unpriced", never a silent $0.00."""
    return usd(value)


@register.filter
def row_cost(row: object, decimals: int | None = None) -> str:
    """A cost row's money (``decimals`` places, a column's): its priced calls' cost, "unpriced" when
    none is priced, and a visible "+ n not priced" when some calls (unpriced model or unknown usage)
    are not in it."""
    known = getattr(row, "known_cost_usd", None)
    missing = getattr(row, "llm_calls", 0) - getattr(row, "priced_calls", 0)
    if known is None:
        return usd(None)
    if missing <= 0:
        return usd(known, decimals)
    return format_html('{} <span class="split not-priced">+ {} not priced</span>', usd(known, decimals), f"{missing:,}")


@register.filter
def usd_exact(value: Decimal | None) -> str:
    """The exact stored amount, without rounding or trailing zeros: hover titles and a call's cost."""
    return format_usd_exact(value)


@register.simple_tag
def column_decimals(rows: Iterable[object] | None, attr: str, *extra: object) -> int:
    """Decimals of one money column: ``attr`` of every row (and of ``extra`` rows, e.g. the totals)."""
    items = [*(rows or []), *(e for e in extra if e is not None)]
    return money_column_decimals(
        getattr(item, attr, None) if not isinstance(item, dict) else item.get(attr) for item in items
    )


@register.filter
def prompt_tokens(row: object) -> int:
    """All prompt tokens of a row: read fresh, read from the cache and written to it."""
    return (
        (getattr(row, "input_tokens", 0) or 0)
        + (getattr(row, "cache_read_tokens", 0) or 0)
        + (getattr(row, "cache_write_tokens", 0) or 0)
    )


@register.filter
def when(value: datetime | None) -> str:
    """A moment as people read it, in the page's time zone (the project's): "Mon 30 Nov 2026, 14:05 CET · 3 hours ago".

    The ``<time>`` element carries the exact UTC instant, its title the local time to the second.
    """
    if value is None:
        return "—"
    local = timezone.localtime(value)
    now = timezone.now()
    ago = f"in {timeuntil(value, now)}" if value > now else f"{timesince(value, now).split(',')[0]} ago"
    if abs((now - value).total_seconds()) < 60:
        ago = "just now"
    year = "" if local.year == timezone.localtime(now).year else f" {local.year}"
    return format_html(
        '<time datetime="{}" title="{}">{} · {}</time>',
        value.astimezone(dt_timezone.utc).isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)"),
        local.strftime(f"%a %-d %b{year}, %H:%M %Z"),
        ago,
    )


@register.filter
def rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@register.filter
def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


UNTRUSTED_DISPLAY_CHARS = 120


@register.filter
def untrusted(value: object) -> str:
    """Text from spans (user ids, models, routes) as HTML that cannot rearrange the page.

    Isolated in ``<bdi>`` (a right-to-left override inside stays inside), control and bidi
    characters shown as visible ``<U+202E>`` marks, wrapped anywhere, and cut after
    ``UNTRUSTED_DISPLAY_CHARS`` with the full value (controls shown) on hover.
    """
    text = "" if value is None else str(value)
    shown = visible_controls(text)
    full = shown
    if len(shown) > UNTRUSTED_DISPLAY_CHARS:
        shown = shown[: UNTRUSTED_DISPLAY_CHARS - 1] + "…"
    marked = _CONTROL_MARK.sub(lambda m: f'<span class="ctrl">{m.group()}</span>', escape(shown))
    return mark_safe(f'<bdi class="untrusted" title="{escape(full)}">{marked}</bdi>')  # noqa: S308 - built from escaped parts


@register.filter
def key_label(value: str, empty: str = "") -> str:
    """A group's key as untrusted text; the empty key reads ``empty`` ("(not set)" for a custom
    dimension), "(none)" by default."""
    return untrusted(value) if value else (empty or "(none)")


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: object) -> str:
    """The current query string with some parameters replaced (None removes one); for sort and page links."""
    params: QueryDict = context["request"].GET.copy()
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = str(value)
    params.pop("format", None)
    return "?" + urlencode(sorted(params.items())) if params else "?"


@register.simple_tag
def sort_link(current: str, field: str) -> str:
    """The ?sort= value a column heading links to: descending first, toggled when already sorted by it."""
    if current == f"-{field}":
        return field
    return f"-{field}"


@register.filter
def aria_sort(current: str, field: str) -> str:
    if current == field:
        return "ascending"
    if current == f"-{field}":
        return "descending"
    return "none"


@register.filter
def incident_value(incident: object) -> str:
    """An incident's value: money, or for a per-request budget the number of offending requests."""
    value = getattr(incident, "value", None)
    if getattr(incident, "level", "") == "request_budget":
        return "—" if value is None else f"{int(value):,} requests"
    return usd(value)


@register.filter
def incident_threshold(incident: object) -> str:
    """An incident's threshold: money, or a per-request budget's limit in tokens (or USD)."""
    threshold = getattr(incident, "threshold", None)
    if getattr(incident, "level", "") == "request_budget":
        rule = getattr(incident, "rule", None)
        if threshold is None or getattr(rule, "request_metric", "") == "cost":
            return usd(threshold) + " per request"
        return f"{int(threshold):,} {getattr(rule, 'request_metric', '').replace('_', ' ')} per request"
    return usd(threshold)
