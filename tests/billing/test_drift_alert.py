"""The drift rule kind: a provider-day whose bill and estimate differ fires and resolves through the
incident lifecycle and a real webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from alerts.incidents import evaluate_rules
from alerts.models import Incident
from costwatch.billing import services
from tests.alerts.conftest import Receiver, make_channel, make_rule, send_pending, start_receiver

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 21, 6, 0, tzinfo=timezone.utc)


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


def test_drift_fires_per_provider_day_and_resolves_when_the_bill_is_corrected(acme_calls, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme_calls, "webhook", url=receiver.url + "/hook")
    rule = make_rule(
        acme_calls,
        [channel],
        name="bill drift",
        kind="drift",
        drift_percent=Decimal(5),
        drift_usd=Decimal("0.0005"),
        drift_days=3,
    )

    evaluate_rules(NOW)
    send_pending(NOW)

    firing = {i.group_key: i for i in Incident.objects.filter(rule=rule, state="firing")}
    # openai 11-18: billed 0.0115, estimated 0.0105 (8.7 %, $0.001); anthropic 11-20: billed 0.25, no calls.
    # anthropic 11-18 matches exactly and does not fire.
    assert set(firing) == {"openai 2026-11-18", "anthropic 2026-11-20"}
    assert firing["openai 2026-11-18"].value == Decimal("0.001")
    assert firing["openai 2026-11-18"].threshold == Decimal("0.000575")  # 5 % of 0.0115 beats $0.0005
    received = receiver.wait_for(2, timeout=5)
    payloads = {r.json()["group"]: r.json() for r in received}
    openai = payloads["openai 2026-11-18"]
    assert openai["event"] == "firing" and openai["rule"]["kind"] == "drift" and openai["level"] == "drift"
    assert "Bill drift: openai's bill for 2026-11-18 (UTC)" in openai["summary"]

    evaluate_rules(NOW)  # idempotent: nothing new
    send_pending(NOW)
    assert len(receiver.requests) == 2

    services.import_csv(
        acme_calls,
        "openai",
        """start_time_iso,amount_value,amount_currency,line_item
2026-11-18T00:00:00+00:00,0.0105,usd,"gpt-4o, output"
""",
    )
    later = NOW.replace(hour=7)
    evaluate_rules(later)
    send_pending(later)

    openai_incident = Incident.objects.get(rule=rule, group_key="openai 2026-11-18")
    assert openai_incident.state == "resolved"
    assert Incident.objects.get(rule=rule, group_key="anthropic 2026-11-20").state == "firing"
    resolved = receiver.wait_for(3, timeout=5)[2].json()
    assert resolved["event"] == "resolved" and resolved["group"] == "openai 2026-11-18"
    assert resolved["summary"].startswith(
        "Resolved: openai's bill for 2026-11-18 (UTC) and Costwatch's estimate are within"
    )


def test_a_provider_filter_and_a_dollar_floor(acme_calls) -> None:  # noqa: ANN001
    only_openai = make_rule(
        acme_calls, name="openai only", kind="drift", drift_percent=Decimal(1), drift_provider="openai"
    )
    floor = make_rule(acme_calls, name="floor", kind="drift", drift_percent=Decimal(1), drift_usd=Decimal("0.01"))
    evaluate_rules(NOW)
    assert list(Incident.objects.filter(rule=only_openai).values_list("group_key", flat=True)) == ["openai 2026-11-18"]
    # $0.001 on openai is under the $0.01 floor; $0.25 on anthropic is not.
    assert list(Incident.objects.filter(rule=floor).values_list("group_key", flat=True)) == ["anthropic 2026-11-20"]


def test_today_is_not_judged_before_the_utc_day_is_over(acme_calls) -> None:  # noqa: ANN001
    rule = make_rule(acme_calls, name="drift", kind="drift", drift_usd=Decimal("0.0001"), drift_days=3)
    evaluate_rules(datetime(2026, 11, 20, 23, 0, tzinfo=timezone.utc))
    assert list(Incident.objects.filter(rule=rule).values_list("group_key", flat=True)) == ["openai 2026-11-18"]


def test_the_rules_api_validates_drift_rules(acme) -> None:  # noqa: ANN001
    from django.contrib.auth import get_user_model

    from costwatch.projects.services import set_member

    user = get_user_model().objects.create_user("oncall", password="pw-123456")
    set_member(acme, user, "oncall")
    client = APIClient()
    client.force_authenticate(user)
    missing = client.post("/api/v1/alerts/rules?project=acme", {"name": "d", "kind": "drift"}, format="json")
    assert missing.status_code == 400 and "drift_percent" in missing.json()
    wrong = client.post(
        "/api/v1/alerts/rules?project=acme",
        {"name": "b", "kind": "budget", "amount_usd": "10", "drift_usd": "1"},
        format="json",
    )
    assert wrong.status_code == 400 and "kind" in wrong.json()
    ok = client.post(
        "/api/v1/alerts/rules?project=acme",
        {"name": "d", "kind": "drift", "drift_percent": "5", "drift_usd": "2", "drift_provider": "openai"},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert (
        ok.json()["drift_percent"],
        ok.json()["drift_usd"],
        ok.json()["drift_days"],
        ok.json()["drift_provider"],
    ) == ("5", "2", 3, "openai")
