"""The weekly savings digest: due once per ISO week, sent through a real webhook receiver, with the
top opportunities and what changed since the last one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from alerts.models import Delivery
from costwatch.projects.models import Role
from costwatch.projects.services import create_project, issue_key, set_member
from costwatch.savings.digest import send_due_digests
from costwatch.usage.rollups import recompute_dirty
from tests.alerts.conftest import Receiver, make_channel, send_pending, start_receiver
from tests.savings.traffic import MINI, cost, request_spans, send, store_prices

pytestmark = pytest.mark.django_db
MONDAY = datetime.now(timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0)
MONDAY -= timedelta(days=MONDAY.weekday() + 14)  # two weeks back: all traffic in the past


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(autouse=True)
def delivery_settings(settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS = 2.0
    settings.COSTWATCH_PUBLIC_URL = "https://costwatch.example"


def _nightly(key: str, night: datetime, calls: int) -> list[tuple[int, int]]:
    shape = [(200 + 50 * i, 50) for i in range(calls)]
    spans = [
        s
        for i, (inp, out) in enumerate(shape)
        for s in request_spans(
            night + timedelta(minutes=i),
            feature="nightly",
            model="gpt-4o-mini",
            input_tokens=inp,
            output_tokens=out,
            server=False,
        )
    ]
    send(key, spans)
    recompute_dirty()
    return shape


def test_the_digest_goes_out_once_a_week_and_says_what_changed(receiver) -> None:  # noqa: ANN001
    store_prices()
    project = create_project("shop", name="Shop", timezone_name="UTC")
    key = issue_key(project, "ingest").secret
    channel = make_channel(project, "webhook", url=receiver.url + "/hook")
    admin = get_user_model().objects.create_user("lead", password="pw")
    set_member(project, admin, Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    pagerduty = make_channel(project, "pagerduty", routing_key="R" * 32)
    refused = client.post("/api/v1/savings/digests", {"channel": pagerduty.pk}, format="json")
    assert refused.status_code == 400 and "not an incident" in refused.json()["detail"]
    created = client.post("/api/v1/savings/digests", {"channel": channel.pk, "weekday": 0, "top": 3}, format="json")
    assert created.status_code == 201, created.content

    shape = _nightly(key, MONDAY - timedelta(days=2, hours=8), 20)
    assert len(send_due_digests(MONDAY)) == 1
    assert send_due_digests(MONDAY + timedelta(hours=1)) == []  # once per week
    send_pending(MONDAY + timedelta(hours=1))
    first = receiver.wait_for(1, timeout=5)[0].json()
    assert first["event"] == "digest" and first["rule"]["kind"] == "digest"
    expected = (sum(cost(MINI, i, o) for i, o in shape) / 2 * 30 / 7).quantize(Decimal("0.000001"))
    assert first["opportunities"] == [
        {
            "id": "batch:feature:nightly",
            "kind": "batch",
            "key": "nightly",
            "status": "estimate",
            "title": "Send nightly through the batch API",
            "saving_per_month_usd": str(expected),
            "potential_per_month_usd": None,
            "partial": False,
        }
    ]
    assert first["changes"] == {"new": ["batch:feature:nightly"], "gone": [], "changed": []}
    assert "1. Send nightly through the batch API" in first["summary"] and "(new)" in first["summary"]
    assert first["link"] == "https://costwatch.example/p/shop/savings/"

    # The next week the job runs twice as often: the digest says the saving changed.
    next_monday = MONDAY + timedelta(days=7)
    _nightly(key, next_monday - timedelta(days=1, hours=8), 20)
    _nightly(key, next_monday - timedelta(days=2, hours=8), 20)
    assert len(send_due_digests(next_monday)) == 1
    send_pending(next_monday)
    second = receiver.wait_for(2, timeout=5)[1].json()
    change = second["changes"]["changed"]
    assert [c["id"] for c in change] == ["batch:feature:nightly"] and change[0]["before"] == str(expected)
    assert Decimal(change[0]["now"]) > expected
    assert Delivery.objects.filter(channel=channel, event="digest", status="sent").count() == 2
