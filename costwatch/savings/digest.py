"""The weekly savings digest: the top opportunities and what changed since last week, sent to a
chosen channel through the alert transports (a delivery row written before sending, every attempt
logged; the delivery sweeper, ``alerts.deliveries.send_due_deliveries``, sends it).

A digest is due once per ISO week of the project's calendar, on or after its weekday. The week is
claimed with a conditional update of ``SavingsDigest.last_week`` inside the transaction that writes
the delivery row, so concurrent workers or a re-run never send a week twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.deliveries import request_sweep
from alerts.models import Channel, Delivery, DeliveryEvent
from costwatch.money import decimal_text, format_usd
from costwatch.projects.calendar import ProjectCalendar, week_key
from costwatch.projects.models import Project
from costwatch.savings.models import SavingsDigest
from costwatch.savings.opportunities import Opportunity
from costwatch.savings.services import SavingsError, period_for, savings_report

DIGEST_PERIOD = "7d"


def save_digest(project: Project, channel: Channel, *, weekday: int = 0, top: int = 5) -> SavingsDigest:
    """Send the digest of ``project`` to ``channel`` every week on ``weekday`` (0 = Monday).

    Raises ``SavingsError`` for a channel of another project, a PagerDuty channel (a digest is not
    an incident) or a weekday/top out of range.
    """
    if channel.project_id != project.pk:
        raise SavingsError("the channel belongs to another project")
    if channel.kind == "pagerduty":
        raise SavingsError("a digest is not an incident: choose a webhook, Slack or email channel")
    if not 0 <= weekday <= 6:
        raise SavingsError("weekday is 0 (Monday) to 6 (Sunday)")
    if not 1 <= top <= 20:
        raise SavingsError("top is 1 to 20")
    digest, _ = SavingsDigest.objects.update_or_create(
        project=project, channel=channel, defaults={"weekday": weekday, "top": top, "enabled": True}
    )
    return digest


def _amount(o: Opportunity) -> Decimal | None:
    return o.saving_per_month if o.status == "estimate" else None


def digest_payload(
    digest: SavingsDigest, opportunities: list[Opportunity], now: datetime
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The notification and the snapshot to compare with next week (``{id: USD per month or None}``)."""
    project = digest.project
    counted = [o for o in opportunities if o.status in ("estimate", "what_if")]
    snapshot = {o.id: decimal_text(_amount(o)) for o in counted}
    previous: dict[str, str | None] = digest.last_snapshot or {}
    top = counted[: digest.top]
    lines = []
    for n, o in enumerate(top, 1):
        amount = (
            f"{format_usd(_amount(o), 2)}/month"
            if _amount(o) is not None
            else f"what-if, up to {format_usd(o.potential_per_month, 2)}/month, not approved"
            if o.potential_per_month is not None
            else "amount unknown"
        )
        mark = "" if o.id in previous else " (new)"
        partial = f" [partial: {o.excluded_calls} calls without a known cost]" if o.partial else ""
        lines.append(f"{n}. {o.title}: {amount}{mark}{partial}")
    gone = sorted(k for k in previous if k not in snapshot)
    changes = {
        "new": sorted(k for k in snapshot if k not in previous),
        "gone": gone,
        "changed": [
            {"id": k, "before": previous[k], "now": snapshot[k]}
            for k in sorted(snapshot)
            if k in previous and previous[k] != snapshot[k]
        ],
    }
    total = sum((_amount(o) or Decimal(0) for o in counted), Decimal(0))
    if not lines:
        lines.append("No savings opportunity found this week.")
    summary = (
        f"Savings digest for {project.slug} (last 7 days): {format_usd(total, 2)}/month in "
        f"counted savings.\n" + "\n".join(lines)
    )
    if gone:
        summary += "\nNo longer found since last week: " + ", ".join(gone)
    link = f"{settings.COSTWATCH_PUBLIC_URL.rstrip('/')}/p/{project.slug}/savings/"
    payload = {
        "event": DeliveryEvent.DIGEST,
        "at": now.isoformat(),
        "project": project.slug,
        "rule": {"id": None, "name": "Weekly savings digest", "kind": "digest"},
        "scope": {"dimension": "project", "value": None},
        "group": None,
        "level": "digest",
        "severity": "warning",
        "value": decimal_text(total),
        "threshold": None,
        "currency": "USD",
        "period": {
            "kind": "week",
            "key": week_key(ProjectCalendar.of(project).date_of(now)),
            "start": None,
            "end": None,
            "timezone": project.timezone,
        },
        "incident": None,
        "summary": summary,
        "link": link,
        "dedup_key": f"costwatch-digest-{digest.pk}",
        "opportunities": [
            {
                "id": o.id,
                "kind": o.kind,
                "key": o.key,
                "status": o.status,
                "title": o.title,
                "saving_per_month_usd": decimal_text(o.saving_per_month),
                "potential_per_month_usd": decimal_text(o.potential_per_month),
                "partial": o.partial,
            }
            for o in top
        ],
        "changes": changes,
    }
    return payload, snapshot


def send_due_digests(now: datetime | None = None) -> list[int]:
    """Write the delivery of every digest due this week (and request a sweep); returns the delivery ids."""
    now = now or timezone.now()
    sent: list[int] = []
    for digest in SavingsDigest.objects.filter(enabled=True, channel__enabled=True).select_related(
        "project", "channel"
    ):
        project = digest.project
        today = ProjectCalendar.of(project).date_of(now)
        if today.weekday() < digest.weekday:
            continue
        week = week_key(today)
        if digest.last_week == week:
            continue
        report = savings_report(project, period=period_for(project, DIGEST_PERIOD, now=now))
        payload, snapshot = digest_payload(digest, report.opportunities, now)
        with transaction.atomic():
            claimed = SavingsDigest.objects.filter(pk=digest.pk, last_week=digest.last_week).update(
                last_week=week, last_snapshot=snapshot
            )
            if not claimed:
                continue  # another worker sent this week's digest
            delivery = Delivery.objects.create(
                project=project,
                channel=digest.channel,
                event=DeliveryEvent.DIGEST,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            request_sweep()
        sent.append(delivery.pk)
    return sent
