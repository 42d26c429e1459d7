"""The PagerDuty transport: Events API v2 trigger and resolve with one dedup_key, one-line plain text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.incidents import evaluate_rules
from alerts.transports import ConfigError, validate_config
from tests.alerts.conftest import (
    EVIL,
    NOW,
    fire_daily_budget,
    fire_for_user,
    make_channel,
    send_pending,
)

ROUTING_KEY = "R0123456789abcdef0123456789abcde"


@pytest.fixture
def pagerduty(settings, receiver):  # noqa: ANN001, ANN201
    settings.COSTWATCH_PAGERDUTY_URL = receiver.url + "/v2/enqueue"
    return receiver


@pytest.mark.django_db
def test_pagerduty_triggers_and_resolves_with_one_dedup_key(acme, pagerduty) -> None:  # noqa: ANN001
    fire_daily_budget(acme, make_channel(acme, "pagerduty", routing_key=ROUTING_KEY))
    send_pending(NOW)
    evaluate_rules(NOW + timedelta(days=1))
    send_pending(NOW + timedelta(days=1))
    trigger, resolve = (r.json() for r in pagerduty.requests)
    assert pagerduty.requests[0].path == "/v2/enqueue"
    assert (trigger["event_action"], trigger["routing_key"]) == ("trigger", ROUTING_KEY)
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith("Budget reached")
    assert trigger["payload"]["source"] == "costwatch/acme"
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


@pytest.mark.django_db
def test_pagerduty_gets_one_line_plain_text(acme, pagerduty) -> None:  # noqa: ANN001
    fire_for_user(acme, EVIL, make_channel(acme, "pagerduty", routing_key=ROUTING_KEY))
    send_pending(NOW)
    payload = pagerduty.requests[0].json()["payload"]
    assert "\n" not in payload["summary"] and "\u202e" not in payload["summary"]
    assert "<U+202E>evil<U+000A>Subject: x" in payload["component"]


def test_a_pagerduty_config_is_an_events_v2_routing_key() -> None:
    assert validate_config("pagerduty", {"routing_key": f" {ROUTING_KEY} "}) == {"routing_key": ROUTING_KEY}
    with pytest.raises(ConfigError, match="routing_key must be the integration key") as refused:
        validate_config("pagerduty", {"routing_key": "short"})
    assert refused.value.field == "routing_key"
