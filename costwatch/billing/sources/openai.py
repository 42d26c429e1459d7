"""OpenAI organization Costs API and cost CSV export.

API: ``GET {base}/v1/organization/costs`` with an admin key (``Authorization: Bearer sk-admin-...``),
``start_time`` / ``end_time`` (Unix seconds, UTC), ``bucket_width=1d``, ``group_by=line_item`` and
``group_by=project_id``, ``project_ids`` (the source's filter), ``limit=180`` and ``page`` = the
previous ``next_page`` while ``has_more``. The answer is ``{"object": "page", "data": [bucket],
"has_more", "next_page"}``; a bucket is ``{"start_time", "end_time", "results": [{"amount":
{"value": <number, USD>, "currency": "usd"}, "line_item", "project_id"}]}``.
Source: https://platform.openai.com/docs/api-reference/usage/costs
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

PROVIDER = "openai"
COSTWATCH_PROVIDERS = ("openai",)
PAGE_LIMIT = 180
# Columns read from the dashboard's cost export (Usage → Export → Costs).
CSV_COLUMNS = ("start_time_iso | start_time", "amount_value", "amount_currency", "line_item", "project_id")


def model_of(line_item: str) -> str:
    """The model a line item names: ``"gpt-4o-2024-08-06, input"`` → ``gpt-4o-2024-08-06``; else ''."""
    head, sep, _ = line_item.partition(", ")
    return head.strip() if sep else ""


def _unix(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=timezone.utc).timestamp())


def _day_of(start_time: object) -> date:
    if isinstance(start_time, bool) or not isinstance(start_time, (int, float, Decimal, str)):
        raise SourceError(f"openai: bucket start_time {start_time!r} is not Unix seconds")
    try:
        return datetime.fromtimestamp(int(start_time), tz=timezone.utc).date()
    except (ValueError, OverflowError, OSError):  # not a number, or a time outside the years 1..9999
        raise SourceError(f"openai: bucket start_time {start_time!r} is not Unix seconds") from None


def lines_of_page(body: Mapping[str, Any], scope_ids: Sequence[str]) -> list[BilledLine]:
    """The bill lines of one decoded page. Raises SourceError when the documented shape is not there."""
    data = body.get("data")
    if not isinstance(data, list):
        raise SourceError("openai: unexpected response shape (no data list)")
    lines = []
    for bucket in data:
        if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
            raise SourceError("openai: unexpected bucket shape (no results list)")
        day = _day_of(bucket.get("start_time"))
        for result in bucket["results"]:
            amount = (result or {}).get("amount") or {}
            if "value" not in amount:
                raise SourceError(f"openai: a result of {day} has no amount.value")
            project_id = result.get("project_id") or ""
            if scope_ids and project_id not in scope_ids:
                continue
            line_item = result.get("line_item") or ""
            lines.append(
                BilledLine(
                    day=day,
                    amount=decimal_of(amount["value"], f"openai amount of {day}"),
                    currency=str(amount.get("currency") or "usd").upper(),
                    line_item=line_item,
                    model=model_of(line_item),
                    scope_id=project_id,
                )
            )
    return lines


def fetch_costs(
    client: httpx.Client, key: str, base_url: str, first_day: date, last_day: date, scope_ids: Sequence[str]
) -> list[BilledLine]:
    """Every bill line of the UTC days first_day..last_day (inclusive), following ``next_page``."""
    url = (base_url or settings.COSTWATCH_OPENAI_API_BASE).rstrip("/") + "/v1/organization/costs"
    params: list[tuple[str, str]] = [
        ("start_time", str(_unix(first_day))),
        ("end_time", str(_unix(last_day + timedelta(days=1)))),
        ("bucket_width", "1d"),
        ("group_by", "line_item"),
        ("group_by", "project_id"),
        ("limit", str(PAGE_LIMIT)),
    ]
    params += [("project_ids", p) for p in scope_ids]
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
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
    """Lines of OpenAI's cost CSV export. Columns read: ``start_time_iso`` (or ``start_time``, Unix
    seconds), ``amount_value`` (USD, decimal), ``amount_currency``, optional ``line_item`` and ``project_id``.
    Rows with an empty amount are days without cost. Raises SourceError naming the row and column.
    """
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    if "amount_value" not in columns or not ({"start_time_iso", "start_time"} & columns):
        raise SourceError(
            "this is not an OpenAI cost export: it needs the columns start_time_iso (or start_time) and "
            f"amount_value; found {', '.join(sorted(columns)) or 'none'}",
            permanent=True,
        )
    lines = []
    days: set[date] = set()
    for number, row in enumerate(reader, start=2):
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        try:
            if (row.get("start_time_iso") or "").strip():
                day = datetime.fromisoformat(row["start_time_iso"].strip()).astimezone(timezone.utc).date()
            else:
                day = datetime.fromtimestamp(int(row["start_time"]), tz=timezone.utc).date()
        except (TypeError, ValueError, OverflowError, OSError):
            raise SourceError(
                f"row {number}: start time {row.get('start_time_iso') or row.get('start_time')!r} "
                "is not an ISO 8601 time or Unix seconds",
                permanent=True,
            ) from None
        days.add(day)
        raw_amount = (row.get("amount_value") or "").strip()
        if not raw_amount:
            continue
        try:
            amount = decimal_of(raw_amount, f"row {number}: amount_value")
        except SourceError as exc:
            raise SourceError(str(exc), permanent=True) from None
        line_item = (row.get("line_item") or "").strip()
        lines.append(
            BilledLine(
                day=day,
                amount=amount,
                currency=(row.get("amount_currency") or "usd").strip().upper(),
                line_item=line_item,
                model=model_of(line_item),
                scope_id=(row.get("project_id") or "").strip(),
            )
        )
    return ParsedBill(lines, days)
