from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsageConfig(AppConfig):
    name = "costwatch.usage"
    label = "usage"

    def ready(self) -> None:
        post_migrate.connect(_partitions_ahead, sender=self)


def _partitions_ahead(sender: AppConfig, using: str = "default", **_: Any) -> None:  # noqa: ANN401
    """Every ``migrate`` creates this month's raw-call partition and the next two.

    Beat keeps them ahead hourly, but its first run comes an interval after start: without this
    a new install wrote its first hour into the default partition, and the later move of those
    rows locked out concurrent exports.
    """
    from django.utils import timezone

    from costwatch.usage.partitions import maintain_partitions

    maintain_partitions(today=timezone.now().date())
