"""Logging filters that keep the logs readable: no tracebacks for 403s, no INFO line per idle tick."""

from __future__ import annotations

import logging

# Tasks that beat sends every few seconds; their routine lines go to DEBUG.
PERIODIC_TASK_NAMES = frozenset(
    {
        "costwatch.usage.tasks.recompute_dirty_buckets",
        "costwatch.usage.tasks.maintain_call_partitions",
        "costwatch.ops.tasks.record_heartbeat",
        "costwatch.ops.tasks.prune_broker_messages",
        "alerts.tasks.evaluate_alert_rules",
        "alerts.tasks.sweep_deliveries",
    }
)
_IDLE_RESULTS: tuple[object, ...] = (None, 0, False, "", [], {}, ())


class ForbiddenWithoutTraceback(logging.Filter):
    """``django.request`` logs a PermissionDenied (403) with its traceback: keep the one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


class QuietPeriodicWork(logging.Filter):
    """Demote to DEBUG what a periodic task logs at INFO when it did nothing.

    Celery logs every task received and succeeded at INFO, and beat every task it sends: with a
    5 s rollup interval that is three lines per tick on an idle system. A run that returned a
    result (e.g. buckets recomputed) is still logged at INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        if self._idle(record):
            if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True

    @staticmethod
    def _idle(record: logging.LogRecord) -> bool:
        args = record.args
        data = args if isinstance(args, dict) else {}
        name = str(data.get("name", ""))
        message = str(record.msg)
        if record.name == "celery.beat":
            # "Scheduler: Sending due task %s (%s)" with the schedule entry and the task name
            return (
                "Sending due task" in message
                and isinstance(args, tuple)
                and len(args) == 2
                and str(args[1]) in PERIODIC_TASK_NAMES
            )
        if name not in PERIODIC_TASK_NAMES:
            return False
        if record.name == "celery.worker.strategy":  # "Task %(name)s[%(id)s] received"
            return True
        if record.name == "celery.app.trace":  # "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
            return "succeeded" in message and _is_idle_result(data.get("return_value"))
        return False


def _is_idle_result(value: object) -> bool:
    text = str(value)
    return value in _IDLE_RESULTS or text in ("None", "0", "False", "''", "[]", "{}", "()")


def install_celery_filters() -> None:
    quiet = QuietPeriodicWork()
    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietPeriodicWork) for f in logger.filters):
            logger.addFilter(quiet)
