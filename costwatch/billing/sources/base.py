"""What every bill source shares: the bill line, errors, and one HTTP GET with capped retries (httpx)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from django.conf import settings


@dataclass(frozen=True)
class BilledLine:
    """One line of a provider's bill: ``amount`` (exact) in ``currency`` (upper-case ISO 4217) for a UTC day."""

    day: date
    amount: Decimal
    currency: str
    line_item: str = ""
    model: str = ""
    scope_id: str = ""


@dataclass(frozen=True)
class ParsedBill:
    """A bill file: its lines, and every UTC day it covers (a day listed without cost is billed nothing)."""

    lines: list[BilledLine]
    days: set[date]


class SourceError(Exception):
    """A pull or file that cannot be read. ``permanent`` = retrying will not help (bad key, bad file)."""

    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


def _retry_after(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before the next attempt: the Retry-After header (seconds or HTTP date), else backoff."""
    raw = response.headers.get("retry-after", "").strip()
    wait: float | None = None
    if raw:
        try:
            wait = float(raw)
        except ValueError:
            try:
                wait = (parsedate_to_datetime(raw) - datetime.now(timezone.utc)).total_seconds()
            except (TypeError, ValueError):
                wait = None
    if wait is None:
        wait = settings.COSTWATCH_BILLING_BACKOFF_SECONDS * (2 ** (attempt - 1))
    return min(max(wait, 0.0), settings.COSTWATCH_BILLING_MAX_RETRY_WAIT_SECONDS)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:300]
    return str(body)[:300]


def get_json(
    client: httpx.Client,
    url: str,
    *,
    params: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    provider: str,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """GET ``url`` and decode its JSON with floats as ``Decimal`` (money stays exact).

    Retries 429 (waiting Retry-After, capped at COSTWATCH_BILLING_MAX_RETRY_WAIT_SECONDS), 5xx and
    connection errors up to COSTWATCH_BILLING_MAX_ATTEMPTS attempts. Raises ``SourceError``:
    permanent for 401/403 (the admin key is wrong, revoked or lacks the scope) and other 4xx.
    """
    attempts = settings.COSTWATCH_BILLING_MAX_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(url, params=list(params), headers=dict(headers))
        except httpx.HTTPError as exc:
            if attempt == attempts:
                raise SourceError(f"{provider}: cannot reach {url}: {exc}") from None
            sleep(settings.COSTWATCH_BILLING_BACKOFF_SECONDS * (2 ** (attempt - 1)))
            continue
        if response.status_code in (401, 403):
            raise SourceError(
                f"{provider} refused the admin key (HTTP {response.status_code}: {_error_message(response)}); "
                "check that it is an admin key with access to the organization's costs, or enter a new one",
                permanent=True,
                status_code=response.status_code,
            )
        if response.status_code == 429 or response.status_code >= 500:
            if attempt == attempts:
                raise SourceError(
                    f"{provider}: HTTP {response.status_code} after {attempts} attempts: {_error_message(response)}",
                    status_code=response.status_code,
                )
            sleep(_retry_after(response, attempt))
            continue
        if response.status_code >= 400:
            raise SourceError(
                f"{provider}: HTTP {response.status_code}: {_error_message(response)}",
                permanent=True,
                status_code=response.status_code,
            )
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise SourceError(f"{provider}: the response is not JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"{provider}: unexpected response shape (not a JSON object)")
        return body
    raise AssertionError("unreachable")  # pragma: no cover


def decimal_of(value: object, what: str) -> Decimal:
    """An exact decimal from a JSON number (already Decimal), an int or a decimal string; SourceError otherwise."""
    if isinstance(value, bool) or value is None:
        raise SourceError(f"{what}: {value!r} is not an amount")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise SourceError(f"{what}: {value!r} is not an amount") from None
    if not amount.is_finite():
        raise SourceError(f"{what}: {value!r} is not a finite amount")
    return amount


def http_client() -> httpx.Client:
    return httpx.Client(timeout=settings.COSTWATCH_BILLING_TIMEOUT_SECONDS, follow_redirects=False)


MAX_PAGES = 1000


def fetch_pages(
    client: httpx.Client,
    url: str,
    params: list[tuple[str, str]],
    headers: Mapping[str, str],
    *,
    provider: str,
    first_day: date,
    last_day: date,
    lines_of_page: Callable[[Mapping[str, Any]], list[BilledLine]],
) -> list[BilledLine]:
    """Every bill line of the UTC days first_day..last_day (inclusive) of a paged cost endpoint that
    answers ``has_more`` / ``next_page`` (the OpenAI Costs API and the Anthropic cost report both do).
    Raises SourceError past ``MAX_PAGES`` pages (and what ``get_json`` raises)."""
    lines: list[BilledLine] = []
    page: str | None = None
    for _ in range(MAX_PAGES):
        body = get_json(
            client, url, params=params + ([("page", page)] if page else []), headers=headers, provider=provider
        )
        lines += lines_of_page(body)
        page = body.get("next_page")
        if not body.get("has_more") or not page:
            return [line for line in lines if first_day <= line.day <= last_day]
    raise SourceError(f"{provider}: more than {MAX_PAGES} pages; pull fewer days")
