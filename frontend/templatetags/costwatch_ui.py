"""Display filters: money, rates and counts as people read them. Formatting only, no arithmetic on costs."""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.http import QueryDict

register = template.Library()


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
