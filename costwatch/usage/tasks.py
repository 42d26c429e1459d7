from __future__ import annotations

from celery import shared_task

from costwatch.usage.rollups import recompute_dirty


@shared_task(ignore_result=True)
def recompute_dirty_buckets() -> int:
    return recompute_dirty()


@shared_task(ignore_result=True)
def maintain_call_partitions() -> None:
    from django.conf import settings
    from django.utils import timezone

    from costwatch.usage.partitions import maintain_partitions

    maintain_partitions(today=timezone.now().date(), retention_days=settings.COSTWATCH_RETENTION_DAYS)
