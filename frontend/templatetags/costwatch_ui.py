"""Display filters: money, rates and counts as people read them. Formatting only, no arithmetic on costs."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from costwatch.money import column_decimals as money_column_decimals
from costwatch.money import format_usd, format_usd_exact

register = template.Library()


@register.filter
def usd(value: Decimal | None, decimals: int | None = None) -> str:
    """$1,234.56 with ``decimals`` places (a column's, from ``column_decimals``); None → "unpriced".

    Without ``decimals``: as many as the value needs to keep two significant digits (at least 2).
    The rule lives in ``costwatch.money``.
    """
    return format_usd(value, decimals)


@register.filter
def usd_exact(value: Decimal | None) -> str:
    """The exact stored amount, without rounding or trailing zeros: hover titles and a call's cost."""
    return format_usd_exact(value)


@register.simple_tag
def column_decimals(rows: object, attr: str, *extra: object) -> int:
    """Decimals of one money column: ``attr`` of every row (and of ``extra`` rows, e.g. the totals)."""
    items = [*(rows or []), *(e for e in extra if e is not None)]
    return money_column_decimals(getattr(item, attr, None) if not isinstance(item, dict) else item.get(attr)
                                 for item in items)


@register.filter
def prompt_tokens(row: object) -> int:
    """All prompt tokens of a row: read fresh, read from the cache and written to it."""
    return (getattr(row, "input_tokens", 0) or 0) + (getattr(row, "cache_read_tokens", 0) or 0) \
        + (getattr(row, "cache_write_tokens", 0) or 0)


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
    return format_html('<time datetime="{}" title="{}">{} · {}</time>',
                       value.astimezone(dt_timezone.utc).isoformat(), local.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)"),
                       local.strftime(f"%a %-d %b{year}, %H:%M %Z"), ago)


@register.filter
def rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@register.filter
def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@register.filter
def key_label(value: str) -> str:
    return value if value else "(none)"


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
