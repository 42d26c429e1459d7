"""Anthropic Admin API cost report and cost CSV.

API: ``GET {base}/v1/organizations/cost_report`` with an Admin API key (``x-api-key: sk-ant-admin...``,
``anthropic-version: 2023-06-01``), ``starting_at`` / ``ending_at`` (RFC 3339, UTC midnights),
``bucket_width=1d``, ``group_by[]=workspace_id`` and ``group_by[]=description``, ``limit=31`` and
``page`` = the previous ``next_page`` while ``has_more``. The answer is ``{"data": [bucket],
"has_more", "next_page"}``; a bucket is ``{"starting_at", "ending_at", "results": [{"amount":
"<decimal string in the currency's lowest unit: cents>", "currency": "USD", "description",
"model", "cost_type", "token_type", "service_tier", "context_window", "workspace_id"}]}``.
``"123.45"`` USD is $1.2345. The workspace filter is applied to ``workspace_id`` of each result
(``null`` = the default workspace). Priority Tier costs are not in this report (Anthropic's note).
Source: https://platform.claude.com/docs/en/api/admin-api/usage-cost/get-cost-report
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings

from costwatch.billing.sources.base import BilledLine, ParsedBill, SourceError, decimal_of, fetch_pages

PROVIDER = "anthropic"
COSTWATCH_PROVIDERS = ("anthropic",)
PAGE_LIMIT = 31
API_VERSION = "2023-06-01"
CENTS = Decimal(100)
CSV_COLUMNS = (
    "usage_date_utc | date | starting_at",
    "cost_usd | amount (+ currency)",
    "description",
    "model",
    "workspace_id",
)


def _rfc3339(day: date) -> str:
    return datetime.combine(day, time.min, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day_of(value: object, what: str) -> date:
    try:
        text = str(value).strip()
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).date()
    except (ValueError, OverflowError):  # OverflowError: a time near year 1 or 9999 that UTC moves out of range
        raise SourceError(f"{what}: {value!r} is not an RFC 3339 time or a date") from None


def lines_of_page(body: Mapping[str, Any], scope_ids: Sequence[str]) -> list[BilledLine]:
    """The bill lines of one decoded page (amounts converted from cents). SourceError on another shape."""
    data = body.get("data")
    if not isinstance(data, list):
        raise SourceError("anthropic: unexpected response shape (no data list)")
    lines = []
    for bucket in data:
        if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
            raise SourceError("anthropic: unexpected bucket shape (no results list)")
        day = _day_of(bucket.get("starting_at"), "anthropic bucket starting_at")
        for result in bucket["results"]:
            if not isinstance(result, dict) or "amount" not in result:
                raise SourceError(f"anthropic: a result of {day} has no amount")
            workspace = result.get("workspace_id") or ""
            if scope_ids and workspace not in scope_ids:
                continue
            cents = decimal_of(result["amount"], f"anthropic amount of {day}")
            lines.append(
                BilledLine(
                    day=day,
                    amount=cents / CENTS,
                    currency=str(result.get("currency") or "USD").upper(),
                    line_item=result.get("description") or "",
                    model=result.get("model") or "",
                    scope_id=workspace,
                )
            )
    return lines


def fetch_costs(
    client: httpx.Client, key: str, base_url: str, first_day: date, last_day: date, scope_ids: Sequence[str]
) -> list[BilledLine]:
    """Every bill line of the UTC days first_day..last_day (inclusive), following ``next_page``."""
    url = (base_url or settings.COSTWATCH_ANTHROPIC_API_BASE).rstrip("/") + "/v1/organizations/cost_report"
    params: list[tuple[str, str]] = [
        ("starting_at", _rfc3339(first_day)),
        ("ending_at", _rfc3339(last_day + timedelta(days=1))),
        ("bucket_width", "1d"),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
        ("limit", str(PAGE_LIMIT)),
    ]
    headers = {"x-api-key": key, "anthropic-version": API_VERSION, "Accept": "application/json"}
    return fetch_pages(
        client,
        url,
        params,
        headers,
        provider=PROVIDER,
        first_day=first_day,
        last_day=last_day,
        lines_of_page=lambda body: lines_of_page(body, scope_ids),
    )


def parse_csv(text: str) -> ParsedBill:
    """Lines of an Anthropic cost CSV. Columns read: the UTC day from ``usage_date_utc``, ``date`` or
    ``starting_at``; the amount from ``cost_usd`` (US dollars) or else ``amount`` (the API's unit:
    cents, with ``currency``); optional ``description``, ``model``, ``workspace_id``.
    Raises SourceError naming the row and column.
    """
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    day_column = next((c for c in ("usage_date_utc", "date", "starting_at") if c in columns), None)
    amount_column = next((c for c in ("cost_usd", "amount") if c in columns), None)
    if day_column is None or amount_column is None:
        raise SourceError(
            "this is not an Anthropic cost CSV: it needs a day column (usage_date_utc, date or starting_at) and "
            f"an amount column (cost_usd or amount); found {', '.join(sorted(columns)) or 'none'}",
            permanent=True,
        )
    lines = []
    for number, row in enumerate(reader, start=2):
        raw = (row.get(amount_column) or "").strip()
        if not raw:
            continue
        try:
            day = _day_of(row.get(day_column), f"row {number}: {day_column}")
            amount = decimal_of(raw, f"row {number}: {amount_column}")
        except SourceError as exc:
            raise SourceError(str(exc), permanent=True) from None
        if amount_column == "cost_usd":
            currency = "USD"
        else:
            amount, currency = amount / CENTS, (row.get("currency") or "USD").strip().upper()
        lines.append(
            BilledLine(
                day=day,
                amount=amount,
                currency=currency,
                line_item=(row.get("description") or "").strip(),
                model=(row.get("model") or "").strip(),
                scope_id=(row.get("workspace_id") or "").strip(),
            )
        )
    return ParsedBill(lines, {line.day for line in lines})
