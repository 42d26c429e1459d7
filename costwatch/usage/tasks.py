from __future__ import annotations

from celery import shared_task

from costwatch.usage.rollups import recompute_dirty_run


@shared_task(ignore_result=True)
def recompute_dirty_buckets() -> list[int]:
    """Beat runs this every COSTWATCH_ROLLUP_INTERVAL_SECONDS. Returns the ids of the projects whose
    rollups changed; when there are any, their alert rules are evaluated next (``costwatch.celery.FOLLOW_UPS``)."""
    return sorted(recompute_dirty_run().project_ids)


@shared_task(ignore_result=True)
def maintain_call_partitions() -> None:
    from django.conf import settings
    from django.utils import timezone

    from costwatch.usage.partitions import maintain_partitions

    maintain_partitions(today=timezone.now().date(), retention_days=settings.COSTWATCH_RETENTION_DAYS)


@shared_task(ignore_result=True)
def backfill_dimension_task(dimension_id: int) -> int:
    """Backfill a new or changed custom dimension (costwatch.usage.dimensions.backfill_dimension)."""
    from costwatch.usage.dimensions import backfill_dimension

    return backfill_dimension(dimension_id)


@shared_task(ignore_result=True)
def purge_span_attributes_task() -> int:
    """Drop span attributes kept past COSTWATCH_SPAN_ATTRIBUTES_DAYS (dimension values stay)."""
    from costwatch.usage.dimensions import purge_span_attributes

    return purge_span_attributes()
