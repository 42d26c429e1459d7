"""Display filters: money, rates and counts as people read them. Formatting only, no arithmetic on costs."""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import re

from django import template
from django.http import QueryDict
from django.utils.html import escape
from django.utils.safestring import mark_safe

from costwatch.display import visible_controls

register = template.Library()
_CONTROL_MARK = re.compile(r"&lt;U\+[0-9A-F]{4,6}&gt;")


@register.filter
def usd(value: Decimal | None) -> str:
    """$1,234.56; amounts under a cent keep four significant digits ($0.004213) so they don't read as zero."""
    if value is None:
        return "—"
    value = Decimal(value)
    if value == 0:
        return "$0.00"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude >= Decimal("0.01"):
        return f"{sign}${magnitude.quantize(Decimal('0.01')):,}"
    return f"{sign}${format(Decimal(f'{magnitude:.4g}'), 'f')}"


@register.filter
def usd_known(value: Decimal | None) -> str:
    """Money that may be unknown (no call priced): "unpriced", never a silent $0.00."""
    return "unpriced" if value is None else usd(value)


@register.filter
def row_cost(row: object) -> str:
    """A cost row's money: its priced calls' cost, "unpriced" when none is priced, and a visible
    "+ n not priced" when some calls (unpriced model or unknown usage) are not in it."""
    known = getattr(row, "known_cost_usd", None)
    if known is None:
        return "unpriced"
    missing = getattr(row, "llm_calls", 0) - getattr(row, "priced_calls", 0)
    return usd(known) + (f" + {missing:,} not priced" if missing > 0 else "")


@register.filter
def usd_exact(value: Decimal | None) -> str:
    """The exact stored amount (a call's cost), without rounding or trailing zeros."""
    if value is None:
        return "unpriced"
    text = format(Decimal(value).normalize(), "f")
    return "$0" if text in {"0", "-0"} else f"${text}"


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
        shown = shown[:UNTRUSTED_DISPLAY_CHARS - 1] + "…"
    marked = _CONTROL_MARK.sub(lambda m: f'<span class="ctrl">{m.group()}</span>', escape(shown))
    return mark_safe(f'<bdi class="untrusted" title="{escape(full)}">{marked}</bdi>')  # noqa: S308 - built from escaped parts


@register.filter
def key_label(value: str) -> str:
    return untrusted(value) if value else "(none)"


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
