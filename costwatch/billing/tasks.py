"""Celery entry points for billing: each calls one service function."""

from __future__ import annotations

import logging

from celery import shared_task

from costwatch.billing.services import claim_due_sources, pull_source
from costwatch.billing.sources import SourceError

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, expires=3600)
def pull_due_bills() -> int:
    """Beat runs this every COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS; each due source is pulled once."""
    pulled = 0
    for source_id in claim_due_sources():
        try:
            if pull_source(source_id) is not None:
                pulled += 1
        except SourceError:
            pass  # recorded on the source and in the import history; the next due time retries
    return pulled


def queue_due_pulls() -> None:
    """Ask the worker to pull due sources now ("pull now") rather than at the next beat check."""
    pull_due_bills.apply_async(expires=600)
