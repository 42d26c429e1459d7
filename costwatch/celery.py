"""The Celery app: broker and schedule come from Django settings (CELERY_* names)."""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_success

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")

app = Celery("costwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Idle periodic ticks (received / succeeded with nothing done / beat's "sending due task") at DEBUG.
from costwatch.logfilters import install_celery_filters  # noqa: E402

install_celery_filters()


@app.on_after_finalize.connect
def _schedule_periodic_work(sender: Celery, **_: object) -> None:
    from django.conf import settings

    from costwatch.schedule import periodic_tasks

    for name, (task, seconds) in periodic_tasks(settings).items():
        sender.add_periodic_task(seconds, sender.signature(task), name=name, expires=seconds * 2)


@task_success.connect
def _run_follow_up(sender: object = None, result: object = None, **_: object) -> None:
    """A rollup run that changed buckets triggers alert evaluation of those projects now, not at the
    next beat: the follow-up gets the task's result (``costwatch.schedule.FOLLOW_UPS``)."""
    from costwatch.schedule import FOLLOW_UPS

    follow_up = FOLLOW_UPS.get(getattr(sender, "name", ""))
    if follow_up and result:
        app.send_task(follow_up, args=(result,), expires=60)
