from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from alerts.deliveries import send_due_deliveries
from alerts.incidents import EvaluationResult, evaluate_rules
from alerts.models import Delivery, Incident, IncidentEvent
from tests.alerts.conftest import (
    NOW,
    Reply,
    make_channel,
    make_rule,
    put_spend,
    send_pending,
)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_evaluations_send_one_notification(acme, receiver) -> None:  # noqa: ANN001
    channels = [make_channel(acme, url=receiver.url + "/a"), make_channel(acme, url=receiver.url + "/b")]
    for i in range(5):
        make_rule(acme, channels, name=f"budget {i}", scope="user", period="day", amount=Decimal(1))
    for user in ("alice", "bob", "carol"):
        put_spend(acme, NOW - timedelta(hours=1), "3", dimension="user", key=user)
    results: list[EvaluationResult] = []
    start = threading.Barrier(2)

    def evaluate() -> None:
        try:
            start.wait()
            results.append(evaluate_rules(NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 2
    assert sum(len(r.deliveries) for r in results) == 5 * 3 * 2  # rules x users x channels, once each
    assert Incident.objects.count() == 15
    assert IncidentEvent.objects.count() == 15
    assert evaluate_rules(NOW + timedelta(seconds=30)).deliveries == []  # a later run (e.g. after a restart)
    send_pending(NOW)
    assert Delivery.objects.filter(status="sent").count() == 30
    paths = [(r.json()["rule"]["name"], r.json()["group"], r.path) for r in receiver.requests]
    assert len(paths) == len(set(paths)) == 30


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweepers_send_each_delivery_once(acme, receiver) -> None:  # noqa: ANN001
    channels = [make_channel(acme, url=receiver.url + "/a"), make_channel(acme, url=receiver.url + "/b")]
    for i in range(3):
        make_rule(acme, channels, name=f"budget {i}", scope="user", period="day", amount=Decimal(1))
    for user in ("alice", "bob", "carol", "dave", "erin"):
        put_spend(acme, NOW - timedelta(hours=1), "3", dimension="user", key=user)
    assert len(evaluate_rules(NOW).deliveries) == 30
    receiver.replies = [Reply(delay=0.05)] * 30  # slow enough that the two sweeps overlap
    outcomes: list[list] = []
    start = threading.Barrier(2)

    def sweep() -> None:
        try:
            start.wait()
            outcomes.append(send_due_deliveries(NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(outcomes) == 2 and all(outcomes)  # both sweepers sent some
    sent = [o.delivery_id for batch in outcomes for o in batch]
    assert len(sent) == len(set(sent)) == 30
    assert Delivery.objects.filter(status="sent", attempts=1).count() == 30
    assert len(receiver.requests) == 30
