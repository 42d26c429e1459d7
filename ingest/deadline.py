"""A time limit on one export's database work, so the exporter gets a 503 before the worker dies.

gunicorn kills a sync worker whose request runs past ``--timeout`` (``COSTWATCH_WEB_TIMEOUT_SECONDS``,
30 s): the exporter then sees a 500 or a reset, which OTel exporters do not retry, and the export
is lost. Within ``ingest_deadline`` every SQL statement first gets PostgreSQL's
``statement_timeout`` set to the time left (lock waits included), and no statement starts after
the deadline. A statement cut short raises ``QueryCanceled`` (a Django ``OperationalError``),
the transaction rolls back, nothing is stored, and the transport answers 503 / UNAVAILABLE with a
retry delay: the exporter sends the export again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import OperationalError, connection


class IngestTimedOut(OperationalError):
    """The export's time budget ran out before its next statement."""


@contextmanager
def ingest_deadline(milliseconds: int) -> Iterator[None]:
    """Run the block's SQL under a deadline ``milliseconds`` from now (on ``connection``)."""
    deadline = time.monotonic() + milliseconds / 1000

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:  # noqa: ANN401
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise IngestTimedOut(f"the export did not finish within {milliseconds} ms")
        with connection.wrap_database_errors:
            # The raw cursor: going through Django's wrapper would run this wrapper again.
            context["cursor"].cursor.execute(f"SET statement_timeout = {max(left_ms, 1)}")
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
