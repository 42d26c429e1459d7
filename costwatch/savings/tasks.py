"""Celery entry points for the savings advisor: each calls one service function."""

from __future__ import annotations

from celery import shared_task

from costwatch.savings.digest import send_due_digests


@shared_task(ignore_result=True, expires=3600)
def send_weekly_digests() -> int:
    """Beat runs this every COSTWATCH_SAVINGS_DIGEST_CHECK_SECONDS; each digest goes out once a week."""
    return len(send_due_digests())
