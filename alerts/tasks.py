"""Celery entry points: each takes ids (or nothing) and calls one service function."""

from __future__ import annotations

from celery import shared_task

from alerts.deliveries import send_due_deliveries
from alerts.incidents import evaluate_rules


@shared_task(ignore_result=True)
def evaluate_alert_rules(project_ids: list[int] | None = None) -> int:
    """Beat runs this for every project every COSTWATCH_ALERT_INTERVAL_SECONDS; a rollup run that
    changed some projects' rollups runs it for those at once (``costwatch.celery.FOLLOW_UPS``).
    Returns the number of deliveries written (a sweep is requested for them)."""
    return len(evaluate_rules(project_ids=project_ids).deliveries)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Send the due deliveries: beat runs this every COSTWATCH_DELIVERY_SWEEP_SECONDS, and whatever
    writes deliveries requests it at once (``alerts.deliveries.request_sweep``). Returns how many
    were attempted."""
    return len(send_due_deliveries())
