"""Delivery rows and the sweeper: retries with capped, jittered backoff, permanent failures, leases,
every attempt logged. What each channel kind sends is in test_transport_<kind>.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.deliveries import (
    JITTER,
    SWEEP_TASK,
    backoff,
    send_due_deliveries,
    send_test_notification,
)
from alerts.incidents import evaluate_rules
from alerts.models import Delivery, DeliveryAttempt
from tests.alerts.conftest import (
    NOW,
    Reply,
    fire_daily_budget,
    make_channel,
    make_rule,
    put_spend,
)

pytestmark = pytest.mark.django_db


def _delay(outcome, at) -> float:  # noqa: ANN001
    return (outcome.retry_at - at).total_seconds()


def test_a_500_is_retried_with_backoff_and_every_attempt_is_logged(acme, receiver) -> None:  # noqa: ANN001
    receiver.replies = [Reply(500, b"upstream broke")]
    delivery = fire_daily_budget(acme, make_channel(acme, url=receiver.url))
    [first] = send_due_deliveries(NOW)
    assert first.status == "pending" and 10 * (1 - JITTER) <= _delay(first, NOW) <= 10
    assert send_due_deliveries(first.retry_at - timedelta(seconds=1)) == []  # not due yet
    assert [o.status for o in send_due_deliveries(first.retry_at)] == ["sent"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    log = list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "ok", "status_code", "detail"))
    # Status and reason only: the body of whatever answered is never stored (SSRF read-back).
    assert log == [(1, False, 500, "HTTP 500 Internal Server Error"), (2, True, 200, "HTTP 200 OK")]
    assert len(receiver.requests) == 2
    assert send_due_deliveries(NOW + timedelta(hours=1)) == []  # sent stays sent


def test_a_400_is_not_retried(acme, receiver) -> None:  # noqa: ANN001
    receiver.replies = [Reply(400, b"bad payload")]
    delivery = fire_daily_budget(acme, make_channel(acme, url=receiver.url))
    [outcome] = send_due_deliveries(NOW)
    assert (outcome.status, outcome.retry_at) == ("failed", None)
    assert send_due_deliveries(NOW + timedelta(days=1)) == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 400 Bad Request")
    assert DeliveryAttempt.objects.get(delivery=delivery).permanent is True
    assert len(receiver.requests) == 1


def test_retries_back_off_exponentially_up_to_the_cap_then_give_up(acme, receiver) -> None:  # noqa: ANN001
    receiver.replies = [Reply(503)] * 4
    fire_daily_budget(acme, make_channel(acme, url=receiver.url))
    at, delays = NOW, []
    while (outcome := send_due_deliveries(at)[0]).retry_at is not None:
        delays.append(_delay(outcome, at))
        at = outcome.retry_at
    assert len(delays) == 3  # then attempt 4 of 4 fails for good
    for delay, full in zip(delays, [10, 20, 40]):
        assert full * (1 - JITTER) <= delay <= full
    assert outcome.status == "failed"
    assert DeliveryAttempt.objects.filter(ok=False).count() == 4


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens_it() -> None:
    assert [backoff(n, draw=0).total_seconds() for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]
    assert [backoff(n, draw=1).total_seconds() for n in range(1, 5)] == [8, 16, 32, 48]
    drawn = {backoff(4).total_seconds() for _ in range(50)}
    assert all(48 <= d <= 60 for d in drawn) and len(drawn) > 1  # failures together do not retry together


def test_a_timeout_is_retried(acme, receiver, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS = 0.3
    receiver.replies = [Reply(200, delay=1.5)]
    delivery = fire_daily_budget(acme, make_channel(acme, url=receiver.url))
    [outcome] = send_due_deliveries(NOW)
    assert outcome.status == "pending" and outcome.retry_at is not None
    delivery.refresh_from_db()
    assert delivery.last_error == "timed out after 0.3s"


def test_an_unreachable_receiver_is_retried(acme) -> None:  # noqa: ANN001
    delivery = fire_daily_budget(acme, make_channel(acme, url="http://127.0.0.1:9/nothing-listens"))
    [outcome] = send_due_deliveries(NOW)
    assert outcome.status == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("connection failed")


def test_a_test_notification_goes_through_the_channel(acme, receiver, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as requested:
        delivery = send_test_notification(channel, NOW)
    assert len(requested) == 1  # a sweep, once the row is committed
    assert [(o.delivery_id, o.status) for o in send_due_deliveries(NOW)] == [(delivery.pk, "sent")]
    body = receiver.requests[0].json()
    assert (body["event"], body["project"], body["incident"]) == ("test", "acme", None)


def test_a_disabled_channel_gets_no_deliveries(acme, receiver) -> None:  # noqa: ANN001
    on, off = make_channel(acme, url=receiver.url + "/on"), make_channel(acme, url=receiver.url + "/off")
    off.enabled = False
    off.save()
    fire_daily_budget(acme, on, off)
    send_due_deliveries(NOW)
    assert [r.path for r in receiver.requests] == ["/on"]


def test_a_channel_disabled_after_the_transition_fails_its_delivery(acme, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    delivery = fire_daily_budget(acme, channel)
    channel.enabled = False
    channel.save()
    assert [o.status for o in send_due_deliveries(NOW)] == ["failed"]
    delivery.refresh_from_db()
    assert delivery.last_error == "channel is disabled" and receiver.requests == []


def test_a_delivery_whose_sender_died_is_sent_when_its_lease_ends(acme, receiver) -> None:  # noqa: ANN001
    delivery = fire_daily_budget(acme, make_channel(acme, url=receiver.url))
    # A sweeper claimed it (a lease until 10:02) and died before sending.
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=NOW + timedelta(minutes=2))
    assert send_due_deliveries(NOW + timedelta(minutes=1)) == []  # another sweep leaves it alone meanwhile
    assert [o.status for o in send_due_deliveries(NOW + timedelta(minutes=3))] == ["sent"]
    assert len(receiver.requests) == 1


def test_deliveries_go_out_oldest_due_first(acme, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    make_rule(acme, [channel], name="Per-user budget", scope="user", period="day", amount=1)
    put_spend(acme, NOW - timedelta(hours=1), "3", dimension="user", key="late")
    evaluate_rules(NOW)
    put_spend(acme, NOW - timedelta(hours=1), "3", dimension="user", key="early")
    evaluate_rules(NOW - timedelta(minutes=5))  # written later, due earlier
    send_due_deliveries(NOW)
    assert [r.json()["group"] for r in receiver.requests] == ["early", "late"]


def test_an_evaluation_that_writes_deliveries_requests_one_sweep(
    acme,
    receiver,  # noqa: ANN001
    django_capture_on_commit_callbacks,
) -> None:
    from alerts.tasks import sweep_deliveries

    make_rule(
        acme,
        [make_channel(acme, url=receiver.url + "/a"), make_channel(acme, url=receiver.url + "/b")],
        name="Daily budget",
        period="day",
        amount=5,
    )
    put_spend(acme, NOW - timedelta(hours=1), "6.5")
    with django_capture_on_commit_callbacks(execute=False) as requested:
        result = evaluate_rules(NOW)
    assert len(result.deliveries) == 2 and len(requested) == 1
    with django_capture_on_commit_callbacks(execute=False) as again:
        assert evaluate_rules(NOW + timedelta(seconds=30)).deliveries == []
    assert again == []
    assert sweep_deliveries.name == SWEEP_TASK  # the task the request names
