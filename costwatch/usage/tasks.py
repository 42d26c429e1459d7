from __future__ import annotations

from celery import shared_task

from costwatch.usage.rollups import recompute_dirty


@shared_task(ignore_result=True)
def recompute_dirty_buckets() -> int:
    return recompute_dirty()
