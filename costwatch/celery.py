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

# Work that should follow another task at once rather than wait for its own beat: new rollups
# are evaluated against the alert rules as soon as they exist. (task -> task it triggers)
FOLLOW_UPS: dict[str, str] = {
    "costwatch.usage.tasks.recompute_dirty_buckets": "alerts.tasks.evaluate_alert_rules",
}


@app.on_after_configure.connect
def _create_broker_folders(sender: Celery, **_: object) -> None:
    """kombu's ``filesystem://`` transport needs the folders settings name; they are made here, on first use."""
    if sender.conf.broker_url == "filesystem://":
        from costwatch.embedded import create_filesystem_broker_folders

        create_filesystem_broker_folders(sender.conf.broker_transport_options)


@task_success.connect
def _run_follow_up(sender: object = None, result: object = None, **_: object) -> None:
    """A rollup run that changed buckets triggers alert evaluation of those projects now, not at the
    next beat: the follow-up gets the task's result (the changed project ids; ``FOLLOW_UPS``)."""
    follow_up = FOLLOW_UPS.get(getattr(sender, "name", ""))
    if follow_up and result:
        app.send_task(follow_up, args=(result,), expires=60)
