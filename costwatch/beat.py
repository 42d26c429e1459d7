"""Celery beat's scheduler, able to reconnect to the broker after the broker's server restarted.

Stock beat builds its producer once; after a broker restart that producer's channel is closed
and every later send fails with "channel disconnected" until beat is restarted. This scheduler
drops the broken connection on a connection error, so the next tick connects afresh. What it
sends is ``CELERY_BEAT_SCHEDULE`` (``costwatch/settings.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler, SchedulingError
from kombu.exceptions import OperationalError as KombuOperationalError

# The same logger as stock beat, so the idle-tick filter (costwatch.logfilters) applies.
log = logging.getLogger("celery.beat")


class ReconnectingScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - celery's arguments
        # The schedule file's folder (var/ by default) may not exist: settings create nothing.
        if kwargs.get("schedule_filename"):
            Path(kwargs["schedule_filename"]).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:  # noqa: ANN401 - celery's types
        log.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except SchedulingError as exc:
            if self._is_connection_error(exc):
                log.warning("beat lost the broker (%s); reconnecting on the next tick", exc)
                self._drop_connection()
            else:
                log.error("Message Error: %s", exc, exc_info=True)
        else:
            log.debug("%s sent.", entry.task)

    def _is_connection_error(self, exc: BaseException) -> bool:
        errors: tuple[type[BaseException], ...] = (
            KombuOperationalError,
            ConnectionError,
            OSError,
            *self.app.connection_for_write().connection_errors,
        )
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, errors) or "disconnected" in str(cause):
                return True
            cause = cause.__cause__ or cause.__context__
        return False

    def _drop_connection(self) -> None:
        connection = self.__dict__.pop("connection", None)
        self.__dict__.pop("producer", None)
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001 - the connection is already broken; closing is best effort
                pass
