"""A time limit on one export's database work, so the exporter gets a 503 rather than no answer.

An export waiting on a lock held elsewhere (an administrator's long DDL, say) holds its request
until something gives up. A sync gunicorn worker is killed past ``--timeout``
(``COSTWATCH_WEB_TIMEOUT_SECONDS``, 30 s), and the exporter sees a 500 or a reset, which OTel
exporters do not retry: the export is lost. The default gthread workers are not killed; there the
deadline bounds how long a request and its database connection stay held, and the exporter gets a
retryable answer (unless its own timeout, 10 s in the OTel SDKs, ends the wait first).

Within ``ingest_deadline`` every SQL statement first gets PostgreSQL's
``statement_timeout`` set to the time left (lock waits included; refreshed when more than
``REFRESH_MS`` passed since it was last set, so a statement may run up to that much longer), and no
statement starts after the deadline. ``ROLLBACK TO SAVEPOINT`` runs as it is: it must work in a
transaction that an error aborted. (COPY does not pass through Django's wrappers; the savepoint
ingest opens before each COPY does, so the timeout a COPY runs under is at most ``REFRESH_MS``
stale.) A statement cut short raises
``QueryCanceled`` (a Django ``OperationalError``), the transaction rolls back, nothing is stored,
and the transport answers 503 / UNAVAILABLE with a retry delay: the exporter sends the export
again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import OperationalError, connection

REFRESH_MS = 100  # how stale the statement_timeout set on the connection may be


class IngestTimedOut(OperationalError):
    """The export's time budget ran out before its next statement."""


@contextmanager
def ingest_deadline(milliseconds: int) -> Iterator[None]:
    """Run the block's SQL under a deadline ``milliseconds`` from now (on ``connection``)."""
    deadline = time.monotonic() + milliseconds / 1000
    set_at: list[float] = []  # when statement_timeout was last set

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:  # noqa: ANN401
        if sql.startswith("ROLLBACK TO SAVEPOINT"):
            set_at.clear()  # a SET made after the savepoint is rolled back with it
            return execute(sql, params, many, context)
        now = time.monotonic()
        left_ms = int((deadline - now) * 1000)
        if left_ms <= 0:
            raise IngestTimedOut(f"the export did not finish within {milliseconds} ms")
        if not set_at or (now - set_at[0]) * 1000 > REFRESH_MS:
            with connection.wrap_database_errors:
                # The raw cursor: going through Django's wrapper would run this wrapper again.
                context["cursor"].cursor.execute(f"SET statement_timeout = {max(left_ms, 1)}")
            set_at[:] = [now]
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        try:
            yield
        finally:
            _reset_timeout()


def _reset_timeout() -> None:
    if connection.connection is None or connection.needs_rollback:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    except Exception:  # noqa: BLE001 - a broken connection is closed and replaced by Django anyway
        connection.close_if_unusable_or_obsolete()


def is_timeout(exc: BaseException) -> bool:
    """Whether a database error means the deadline cut the export short."""
    from psycopg import errors

    return isinstance(exc, IngestTimedOut) or isinstance(exc.__cause__, errors.QueryCanceled)
