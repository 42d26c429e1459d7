"""Throttling guessed passwords and API keys: failures counted in PostgreSQL, shared by all processes.

- Sign-in: after ``COSTWATCH_LOGIN_FAILURES_PER_ACCOUNT`` (default 10) failures for one user
  name, or ``COSTWATCH_LOGIN_FAILURES_PER_ADDRESS`` (default 50) from one address, within
  ``COSTWATCH_AUTH_THROTTLE_MINUTES`` (default 15), sign-in for that name or address is refused
  (HTTP 429, the right password included) until the window has passed. A successful sign-in
  clears its account's count.
- API and ingest keys: after ``COSTWATCH_BAD_KEYS_PER_ADDRESS`` (default 30) unknown keys from
  one address within the window, requests from it carrying a key get 429 with ``Retry-After``.

Windows are fixed slices of the throttle period; a subject is over the limit when the current
and the previous slice together reach it, so a burst straddling two slices is still counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from costwatch.projects.models import AuthFailureWindow

LOGIN_ACCOUNT = "login-account"
LOGIN_ADDRESS = "login-address"
KEY_ADDRESS = "key-address"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the subject is under the limit again (0 when allowed)


def _period() -> timedelta:
    return timedelta(minutes=settings.COSTWATCH_AUTH_THROTTLE_MINUTES)


def _window(now: datetime) -> datetime:
    seconds = int(_period().total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def _limit(scope: str) -> int:
    return {
        LOGIN_ACCOUNT: settings.COSTWATCH_LOGIN_FAILURES_PER_ACCOUNT,
        LOGIN_ADDRESS: settings.COSTWATCH_LOGIN_FAILURES_PER_ADDRESS,
        KEY_ADDRESS: settings.COSTWATCH_BAD_KEYS_PER_ADDRESS,
    }[scope]


def check(scope: str, subject: str, now: datetime | None = None) -> Verdict:
    """Whether ``subject`` may try again now (no write)."""
    limit = _limit(scope)
    if limit <= 0 or not subject:
        return Verdict(True, 0)
    now = now or timezone.now()
    current = _window(now)
    previous = current - _period()
    counts = dict(
        AuthFailureWindow.objects.filter(
            scope=scope, subject=subject[:255], window_start__in=[current, previous]
        ).values_list("window_start", "count")
    )
    if counts.get(current, 0) + counts.get(previous, 0) < limit:
        return Verdict(True, 0)
    # Under the limit again once the older of the counted slices has passed.
    until = (current if counts.get(previous, 0) else current + _period()) + _period()
    return Verdict(False, max(1, int((until - now).total_seconds())))


def record_failure(scope: str, subject: str, now: datetime | None = None) -> None:
    if not subject or _limit(scope) <= 0:
        return
    now = now or timezone.now()
    window = _window(now)
    table = AuthFailureWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (scope, subject, window_start, count) VALUES (%s, %s, %s, 1)
                ON CONFLICT (scope, subject, window_start) DO UPDATE SET count = {table}.count + 1""",
            [scope, subject[:255], window],
        )
    # Old windows go when a new one starts; the table stays small.
    AuthFailureWindow.objects.filter(window_start__lt=window - 2 * _period()).delete()


def clear(scope: str, subject: str) -> None:
    AuthFailureWindow.objects.filter(scope=scope, subject=subject[:255]).delete()


def client_address(request: HttpRequest) -> str:
    """The caller's IP: the proxy's last X-Forwarded-For hop behind COSTWATCH_TLS_PROXY, else the peer."""
    if settings.COSTWATCH_TLS_PROXY:
        forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")
