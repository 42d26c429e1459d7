"""Celery entry points: each takes ids (or nothing) and calls one service function."""
from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from alerts.services import attempt_delivery, evaluate_rules


@shared_task(ignore_result=True)
def evaluate_alert_rules() -> int:
    """Beat runs this every COSTWATCH_ALERT_INTERVAL_SECONDS."""
    return len(evaluate_rules().deliveries)


@shared_task(ignore_result=True)
def deliver(delivery_id: int) -> str | None:
    """Send one delivery; on a retryable failure, queue itself again for the backoff delay."""
    outcome = attempt_delivery(delivery_id)
    if outcome.retry_at is not None:
        countdown = max((outcome.retry_at - timezone.now()).total_seconds(), 0)
        deliver.apply_async((delivery_id,), countdown=countdown)
    return outcome.status
