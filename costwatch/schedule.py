"""What Celery beat runs, and how often (intervals from settings)."""
from __future__ import annotations

from typing import Any

# Each app adds its periodic task here: name -> (task name, setting holding the interval).
PERIODIC_TASKS: dict[str, tuple[str, str]] = {
    "rollups": ("costwatch.usage.tasks.recompute_dirty_buckets", "COSTWATCH_ROLLUP_INTERVAL_SECONDS"),
    "partitions": ("costwatch.usage.tasks.maintain_call_partitions", "COSTWATCH_PARTITION_INTERVAL_SECONDS"),
    "span-attributes": ("costwatch.usage.tasks.purge_span_attributes_task", "COSTWATCH_PARTITION_INTERVAL_SECONDS"),
    "heartbeat": ("costwatch.ops.tasks.record_heartbeat", "COSTWATCH_HEARTBEAT_SECONDS"),
    "alerts": ("alerts.tasks.evaluate_alert_rules", "COSTWATCH_ALERT_INTERVAL_SECONDS"),
    "deliveries": ("alerts.tasks.sweep_deliveries", "COSTWATCH_DELIVERY_SWEEP_SECONDS"),
    "billing": ("costwatch.billing.tasks.pull_due_bills", "COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS"),
    "broker-prune": ("costwatch.ops.tasks.prune_broker_messages", "COSTWATCH_PARTITION_INTERVAL_SECONDS"),
    "savings-digest": ("costwatch.savings.tasks.send_weekly_digests", "COSTWATCH_SAVINGS_DIGEST_CHECK_SECONDS"),
}


# Work that should follow another task at once rather than wait for its own beat: new rollups
# are evaluated against the alert rules as soon as they exist. (task -> task it triggers) A task
# whose result is truthy triggers its follow-up with that result as the one argument: the rollup
# run returns the ids of the projects it changed, and only their rules are evaluated.
FOLLOW_UPS: dict[str, str] = {
    "costwatch.usage.tasks.recompute_dirty_buckets": "alerts.tasks.evaluate_alert_rules",
}


def periodic_tasks(settings: Any) -> dict[str, tuple[str, float]]:
    return {
        name: (task, float(getattr(settings, setting, 30.0)))
        for name, (task, setting) in PERIODIC_TASKS.items()
    }
