from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from alerts.models import Delivery, DeliveryAttempt, Incident
from alerts.services import attempt_delivery, evaluate_rules, send_test_notification
from alerts.transports.webhook import verify
from tests.alerts.conftest import (
    Reply,
    make_channel,
    make_rule,
    put_spend,
    send_pending,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=BERLIN)
pytestmark = pytest.mark.django_db


def _fire(project, *channels) -> Delivery:  # noqa: ANN001
    make_rule(project, list(channels), name="Daily budget", period="day", amount=Decimal(5), warn_percents=[80])
    put_spend(project, NOW - timedelta(hours=1), "6.5")
    evaluate_rules(NOW)
    return Delivery.objects.order_by("id").first()


def test_a_500_is_retried_with_backoff_and_every_attempt_is_logged(acme, receiver) -> None:  # noqa: ANN001
    receiver.replies = [Reply(500, b"upstream broke")]
    delivery = _fire(acme, make_channel(acme, url=receiver.url))
    first = attempt_delivery(delivery.pk, now=NOW)
    assert (first.status, first.retry_at) == ("pending", NOW + timedelta(seconds=10))
    assert attempt_delivery(delivery.pk, now=NOW + timedelta(seconds=5)).attempted is False  # not due yet
    assert attempt_delivery(delivery.pk, now=NOW + timedelta(seconds=10)).status == "sent"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    log = list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "ok", "status_code", "detail"))
    # Status and reason only: the body of whatever answered is never stored (SSRF read-back).
    assert log == [(1, False, 500, "HTTP 500 Internal Server Error"), (2, True, 200, "HTTP 200 OK")]
    assert len(receiver.requests) == 2
    assert attempt_delivery(delivery.pk, now=NOW + timedelta(hours=1)).attempted is False  # sent stays sent


def test_a_400_is_not_retried(acme, receiver) -> None:  # noqa: ANN001
    receiver.replies = [Reply(400, b"bad payload")]
    delivery = _fire(acme, make_channel(acme, url=receiver.url))
    outcome = attempt_delivery(delivery.pk, now=NOW)
    assert (outcome.status, outcome.retry_at) == ("failed", None)
    assert attempt_delivery(delivery.pk, now=NOW + timedelta(days=1)).attempted is False
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 400 Bad Request")
    assert DeliveryAttempt.objects.get(delivery=delivery).permanent is True
    assert len(receiver.requests) == 1


def test_retries_back_off_exponentially_up_to_the_cap_then_give_up(acme, receiver) -> None:  # noqa: ANN001
    receiver.replies = [Reply(503)] * 4
    delivery = _fire(acme, make_channel(acme, url=receiver.url))
    at, delays = NOW, []
    while (outcome := attempt_delivery(delivery.pk, now=at)).retry_at is not None:
        delays.append((outcome.retry_at - at).total_seconds())
        at = outcome.retry_at
    assert delays == [10, 20, 40]  # then attempt 4 of 4 fails for good
    assert outcome.status == "failed"
    assert DeliveryAttempt.objects.filter(delivery=delivery, ok=False).count() == 4


def test_backoff_is_capped(settings) -> None:  # noqa: ANN001
    from alerts.services import backoff

    assert [backoff(n).total_seconds() for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]


def test_a_timeout_is_retried(acme, receiver, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS = 0.3
    receiver.replies = [Reply(200, delay=1.5)]
    delivery = _fire(acme, make_channel(acme, url=receiver.url))
    outcome = attempt_delivery(delivery.pk, now=NOW)
    assert outcome.status == "pending" and outcome.retry_at is not None
    delivery.refresh_from_db()
    assert delivery.last_error == "timed out after 0.3s"


def test_an_unreachable_receiver_is_retried(acme) -> None:  # noqa: ANN001
    delivery = _fire(acme, make_channel(acme, url="http://127.0.0.1:9/nothing-listens"))
    outcome = attempt_delivery(delivery.pk, now=NOW)
    assert outcome.status == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("connection failed")


def test_the_receiver_can_verify_the_webhook_signature(acme, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    _fire(acme, channel)
    send_pending(NOW)
    [request] = receiver.requests
    timestamp, header = request.headers["x-costwatch-timestamp"], request.headers["x-costwatch-signature"]
    # What a receiver does, written out without Costwatch code:
    expected = hmac.new(channel.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, "sha256=" + expected)
    assert abs(time.time() - int(timestamp)) < 60
    assert verify(channel.secret, timestamp, request.body, header)
    assert not verify("another-secret", timestamp, request.body, header)
    assert not verify(channel.secret, timestamp, request.body.replace(b"6.5", b"0.5"), header)
    assert not verify(channel.secret, str(int(timestamp) - 3600), request.body, header)
    assert request.json()["delivery_id"] == Delivery.objects.get().pk


def test_slack_gets_a_readable_block_kit_message(acme, receiver) -> None:  # noqa: ANN001
    _fire(acme, make_channel(acme, "slack", url=receiver.url + "/services/T000/B000/XXX"))
    send_pending(NOW)
    message = receiver.requests[0].json()
    assert message["text"].startswith(":rotating_light: Budget reached: project acme spent $6.50 of $5.00")
    header, summary, facts, actions = message["blocks"]
    assert header["type"] == "header" and "FIRING: Daily budget" in header["text"]["text"]
    assert summary["type"] == "section"
    assert {"type": "mrkdwn", "text": "*Value*\n$6.5"} in facts["fields"]
    incident = Incident.objects.get()
    assert actions["elements"][0]["url"] == f"https://costwatch.example/alerts/incidents/{incident.pk}/"


def test_pagerduty_triggers_and_resolves_with_one_dedup_key(acme, receiver, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_PAGERDUTY_URL = receiver.url + "/v2/enqueue"
    routing_key = "R0123456789abcdef0123456789abcde"
    _fire(acme, make_channel(acme, "pagerduty", routing_key=routing_key))
    send_pending(NOW)
    evaluate_rules(NOW + timedelta(days=1))
    send_pending(NOW + timedelta(days=1))
    trigger, resolve = (r.json() for r in receiver.requests)
    assert receiver.requests[0].path == "/v2/enqueue"
    assert (trigger["event_action"], trigger["routing_key"]) == ("trigger", routing_key)
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith("Budget reached")
    assert trigger["payload"]["source"] == "costwatch/acme"
    assert resolve == {"routing_key": routing_key, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_email_reaches_an_smtp_server(acme, email_to_sink) -> None:  # noqa: ANN001
    _fire(acme, make_channel(acme, "email", to=["oncall@acme.test", "finance@acme.test"]))
    assert [o.status for o in send_pending(NOW)] == ["sent"]
    [message] = email_to_sink.messages
    assert message["Subject"] == "[Costwatch] FIRING: Daily budget (project acme)"
    assert sorted(email_to_sink.envelopes[0].rcpt_tos) == ["finance@acme.test", "oncall@acme.test"]
    plain, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert "Budget reached: project acme spent $6.50 of $5.00" in plain
    assert f"/alerts/incidents/{Incident.objects.get().pk}/" in plain
    assert "<bdi>Budget reached: project acme spent $6.50 of $5.00" in html


def test_a_test_notification_goes_through_the_channel(acme, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    delivery = send_test_notification(channel, NOW)
    assert attempt_delivery(delivery.pk, now=NOW).status == "sent"
    body = receiver.requests[0].json()
    assert (body["event"], body["project"], body["incident"]) == ("test", "acme", None)


def test_a_disabled_channel_gets_no_deliveries(acme, receiver) -> None:  # noqa: ANN001
    on, off = make_channel(acme, url=receiver.url + "/on"), make_channel(acme, url=receiver.url + "/off")
    off.enabled = False
    off.save()
    _fire(acme, on, off)
    send_pending(NOW)
    assert [r.path for r in receiver.requests] == ["/on"]


def test_a_due_delivery_lost_with_the_broker_is_queued_again(acme, receiver, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    delivery = _fire(acme, make_channel(acme, url=receiver.url))
    assert evaluate_rules(NOW + timedelta(seconds=30)).requeued == []  # may still be on its way
    with django_capture_on_commit_callbacks(execute=False) as queued:
        result = evaluate_rules(NOW + timedelta(seconds=61))
    assert result.requeued == [delivery.pk] and len(queued) == 1
    send_pending(NOW + timedelta(seconds=61))
    assert evaluate_rules(NOW + timedelta(minutes=5)).requeued == []
