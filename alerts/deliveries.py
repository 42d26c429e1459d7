"""Delivery rows: written before sending, claimed by one sweeper, every attempt logged.

* **Written first.** A transition writes one pending row per enabled channel of its rule, unique
  per (incident, channel, event, sequence): evaluating again never notifies twice. The payload is
  built once, when the transition happens (``alerts.notifications``).
* **Claimed by the sweeper.** ``send_due_deliveries`` (the ``alerts.tasks.sweep_deliveries`` task,
  run by beat every ``COSTWATCH_DELIVERY_SWEEP_SECONDS`` and requested right after new rows commit)
  claims one due row at a time with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease
  (``claimed_until``), so concurrent sweepers never send the same row. A sweeper that dies
  mid-send leaves its lease to expire; the next sweep sends the row again (receivers de-duplicate on
  the delivery id or ``dedup_key``). Nothing is lost with the broker: the rows are the queue.
* **Retried with capped, jittered backoff.** A retryable failure schedules the next attempt
  ``backoff(n)`` later; a permanent one (HTTP 4xx, a disabled channel) or the
  ``COSTWATCH_DELIVERY_MAX_ATTEMPTS``-th failure gives up (status ``failed``).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from alerts.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    DeliveryStatus,
    Incident,
)
from alerts.notifications import example_payload, notification_payload
from alerts.transports import (
    ConfigError,
    Notification,
    TransportError,
    config_of,
    transport_for,
)

log = logging.getLogger(__name__)

SWEEP_TASK = "alerts.tasks.sweep_deliveries"
SWEEP_SECONDS = 30.0  # a sweep claims no new delivery after this long; the next sweep goes on
JITTER = 0.2  # a retry comes up to 20 % sooner than the exponential delay, at random

_CLAIM_DUE = f"""
WITH due AS MATERIALIZED (
    SELECT id FROM {Delivery._meta.db_table}
    WHERE status = %(pending)s AND next_attempt_at <= %(now)s
      AND (claimed_until IS NULL OR claimed_until < %(now)s)
    ORDER BY next_attempt_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE {Delivery._meta.db_table} AS d SET claimed_until = %(until)s
FROM due WHERE d.id = due.id
RETURNING d.id
"""


def create_deliveries(
    incident: Incident, event: str, sequence: int, now: datetime, previous_level: str | None = None
) -> list[int]:
    """One pending delivery per enabled channel of the incident's rule; the ids of the new ones
    (a row that already exists for this transition is not written again)."""
    payload = notification_payload(incident, event, now, previous_level)
    created: list[int] = []
    for channel in incident.rule.channels.filter(enabled=True).order_by("id"):
        delivery, is_new = Delivery.objects.get_or_create(
            incident=incident,
            channel=channel,
            event=event,
            sequence=sequence,
            defaults={"project_id": incident.project_id, "payload": payload, "next_attempt_at": now, "created_at": now},
        )
        if is_new:
            created.append(delivery.pk)
    return created


def send_test_notification(channel: Channel, now: datetime | None = None) -> Delivery:
    """A pending delivery of an example notification to ``channel``; a sweep is requested for it."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.create(
            project=channel.project,
            channel=channel,
            event=DeliveryEvent.TEST,
            payload=example_payload(channel, now),
            next_attempt_at=now,
            created_at=now,
        )
        request_sweep()
    return delivery


def request_sweep() -> None:
    """Ask a worker to sweep now rather than at the next beat, once the current transaction commits
    (a rolled-back transition sends nothing). Best effort: with the broker down the rows wait for
    the beat's sweep. The task is named, not imported: ``alerts.tasks`` imports this module."""

    def send() -> None:
        try:
            current_app.send_task(SWEEP_TASK, expires=60)
        except Exception:  # noqa: BLE001 - a broker outage must not undo a committed transition
            log.warning("could not request a delivery sweep; the next beat sweeps", exc_info=True)

    transaction.on_commit(send)


def backoff(attempts: int, draw: float | None = None) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures.

    ``COSTWATCH_DELIVERY_BACKOFF_SECONDS`` × 2^(attempts − 1), capped at
    ``COSTWATCH_DELIVERY_BACKOFF_MAX_SECONDS``, then shortened by up to ``JITTER`` (20 %) so that
    deliveries failing together (one receiver down) do not retry in lockstep: always within
    [0.8 × delay, delay], never past the cap. ``draw`` in [0, 1] picks the point (random when None;
    0 is the full delay).
    """
    base = settings.COSTWATCH_DELIVERY_BACKOFF_SECONDS
    delay = min(base * 2 ** max(attempts - 1, 0), settings.COSTWATCH_DELIVERY_BACKOFF_MAX_SECONDS)
    draw = random.random() if draw is None else draw
    return timedelta(seconds=delay * (1 - JITTER * draw))


@dataclass(frozen=True)
class AttemptOutcome:
    delivery_id: int
    status: str  # pending (a retry is scheduled), sent or failed
    retry_at: datetime | None = None


def send_due_deliveries(now: datetime | None = None, *, budget_seconds: float = SWEEP_SECONDS) -> list[AttemptOutcome]:
    """Claim due deliveries one at a time (oldest due first) and attempt each once; what happened to each.

    Stops when none is due, or after ``budget_seconds`` so a slow receiver cannot hold a worker; the
    next sweep goes on. ``now`` fixes the clock (tests); by default each claim reads it afresh.
    """
    outcomes: list[AttemptOutcome] = []
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        at = now or timezone.now()
        delivery_id = _claim_due(at)
        if delivery_id is None:
            break
        outcomes.append(_attempt(delivery_id, at))
    return outcomes


def _lease() -> timedelta:
    """How long a claim holds: longer than any send can take, so no second sweeper sends meanwhile."""
    return timedelta(seconds=max(settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS, settings.EMAIL_TIMEOUT or 0) * 3 + 30)


def _claim_due(now: datetime) -> int | None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_DUE, {"pending": DeliveryStatus.PENDING, "now": now, "until": now + _lease()})
        row = cursor.fetchone()
    return row[0] if row else None


def _attempt(delivery_id: int, now: datetime) -> AttemptOutcome:
    """Send a claimed delivery once, log the attempt, and schedule the retry or give up."""
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    channel = delivery.channel
    started = time.monotonic()
    ok, permanent, status_code, detail = False, False, None, ""
    if not channel.enabled:
        permanent, detail = True, "channel is disabled"
    else:
        try:
            sent = transport_for(channel.kind).send(
                config_of(channel.kind, channel.config),
                Notification(delivery.payload),
                secret=channel.secret,
                delivery_id=delivery.pk,
            )
            ok, status_code, detail = True, sent.status_code, sent.detail
        except TransportError as exc:
            permanent, status_code, detail = exc.permanent, exc.status_code, str(exc)
        except ConfigError as exc:  # a kind no transport handles any more
            permanent, detail = True, str(exc)
        except Exception as exc:  # noqa: BLE001 - a transport bug is logged on the row and retried (capped)
            log.exception("delivery %s: unexpected transport error", delivery_id)
            detail = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    number = delivery.attempts + 1
    changes: dict[str, Any] = {"attempts": number, "claimed_until": None}
    retry_at = None
    if ok:
        changes.update(status=DeliveryStatus.SENT, sent_at=now, last_error="")
    elif permanent or number >= settings.COSTWATCH_DELIVERY_MAX_ATTEMPTS:
        changes.update(status=DeliveryStatus.FAILED, last_error=detail)
    else:
        retry_at = now + backoff(number)
        changes.update(next_attempt_at=retry_at, last_error=detail)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=now,
            duration_ms=duration_ms,
            ok=ok,
            permanent=permanent,
            status_code=status_code,
            detail=detail[:2000],
        )
        Delivery.objects.filter(pk=delivery.pk).update(**changes)
    if not ok:
        log.warning(
            "delivery %s to %s %r failed (attempt %s): %s", delivery.pk, channel.kind, channel.name, number, detail
        )
    return AttemptOutcome(delivery.pk, changes.get("status", DeliveryStatus.PENDING), retry_at)
