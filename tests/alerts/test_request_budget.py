"""The per-request budget rule kind: spans through the real ingest, one incident per rule, feature and
day that counts the offending requests and names the worst ones, a real webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from alerts.incidents import evaluate_rules
from alerts.models import Delivery, Incident
from costwatch.projects.models import Role
from costwatch.projects.services import create_project, issue_key, set_member
from costwatch.usage.rollups import recompute_dirty
from tests.alerts.conftest import (
    Receiver,
    make_channel,
    make_rule,
    send_pending,
    start_receiver,
)
from tests.savings.traffic import request_spans, send, store_prices

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


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


@pytest.fixture
def shop(db):  # noqa: ANN001, ANN201
    store_prices()
    project = create_project("shop", name="Shop", timezone_name="Europe/Berlin")
    return project, issue_key(project, "ingest").secret


def _summaries(key: str, start: datetime, prompts: list[int], feature: str = "summarize") -> None:
    spans = []
    for i, prompt in enumerate(prompts):
        spans += request_spans(
            start + timedelta(minutes=i), feature=feature, model="gpt-4o-mini", input_tokens=prompt, output_tokens=100
        )
    send(key, spans)
    recompute_dirty()


def test_one_incident_per_feature_and_day_counts_offenders_and_links_the_worst(shop, receiver) -> None:  # noqa: ANN001
    project, key = shop
    channel = make_channel(project, "webhook", url=receiver.url + "/hook")
    rule = make_rule(
        project,
        [channel],
        name="summaries stay small",
        kind="request_budget",
        scope="feature",
        request_metric="input_tokens",
        request_limit=Decimal(20000),
    )
    morning = NOW.replace(hour=8)
    _summaries(key, morning, [5000, 25000, 21000, 18000, 40000])
    _summaries(key, morning, [90000], feature="search")  # another feature, same rule: its own incident

    evaluate_rules(NOW)
    send_pending(NOW)
    incidents = {i.group_key: i for i in Incident.objects.filter(rule=rule)}
    assert set(incidents) == {"summarize", "search"}
    summarize = incidents["summarize"]
    assert summarize.level == "request_budget" and summarize.period_key == "2026-11-20"
    assert summarize.value == 3 and summarize.threshold == 20000
    assert [w["value"] for w in summarize.evidence["worst"]] == ["40000", "25000", "21000"]
    assert summarize.evidence["requests"] == 5
    received = {r.json()["group"]: r.json() for r in receiver.wait_for(2, timeout=5)}
    payload = received["summarize"]
    assert payload["event"] == "firing" and payload["rule"]["kind"] == "request_budget"
    assert payload["summary"].startswith(
        "Per-request budget: 3 of 5 requests of feature summarize on 2026-11-20 used more than 20,000 prompt tokens"
    )
    worst = payload["requests"]["worst"][0]
    assert worst["value"] == "40000"
    assert worst["link"] == f"https://costwatch.example/p/shop/requests/{worst['trace_id']}/"

    # More offenders the same day: the same incident counts them, no second page.
    _summaries(key, NOW.replace(hour=12), [30000, 50000])
    later = NOW + timedelta(minutes=5)
    evaluate_rules(later)
    send_pending(later)
    summarize.refresh_from_db()
    assert summarize.state == "firing" and summarize.value == 5
    assert summarize.evidence["worst"][0]["value"] == "50000"
    assert Delivery.objects.filter(incident=summarize).count() == 1
    assert len(receiver.requests) == 2

    # The next local day: the incidents resolve ("period ended"), once each.
    tomorrow = NOW + timedelta(days=1)
    evaluate_rules(tomorrow)
    send_pending(tomorrow)
    assert set(Incident.objects.filter(rule=rule).values_list("state", flat=True)) == {"resolved"}
    resolved = [r.json() for r in receiver.wait_for(4, timeout=5)[2:]]
    assert {r["event"] for r in resolved} == {"resolved"}


def test_a_cost_budget_counts_known_cost_and_says_what_is_unknown(shop) -> None:  # noqa: ANN001
    project, key = shop
    rule = make_rule(
        project,
        name="cheap requests",
        kind="request_budget",
        scope="endpoint",
        scope_value="/summarize",
        request_metric="cost",
        request_limit=Decimal("0.001"),
    )
    spans = []
    morning = NOW.replace(hour=8)
    for i, prompt in enumerate([1000, 10000]):  # $0.00021 and $0.00156 on gpt-4o-mini
        spans += request_spans(
            morning + timedelta(minutes=i),
            feature="summarize",
            model="gpt-4o-mini",
            input_tokens=prompt,
            output_tokens=100,
        )
    spans += request_spans(
        morning + timedelta(minutes=5), feature="summarize", model="mystery-llm", input_tokens=99999, output_tokens=100
    )
    send(key, spans)
    recompute_dirty()
    evaluate_rules(NOW)
    incident = Incident.objects.get(rule=rule)
    assert incident.group_key == "/summarize" and incident.value == 1
    assert incident.evidence["unknown_cost_requests"] == 1
    assert incident.evidence["worst"] == [
        {"trace_id": incident.evidence["worst"][0]["trace_id"], "value": "0.001560000000"}
    ]


def test_the_api_creates_a_request_budget_and_refuses_bad_ones(shop) -> None:  # noqa: ANN001
    project, _ = shop
    admin = get_user_model().objects.create_user("lead", password="pw")
    set_member(project, admin, Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    url = "/api/v1/alerts/rules"
    ok = client.post(
        url,
        {
            "name": "small",
            "kind": "request_budget",
            "scope": "feature",
            "scope_value": "summarize",
            "request_metric": "input_tokens",
            "request_limit": "20000",
        },
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["request_metric"] == "input_tokens" and ok.json()["request_limit"] == "20000"
    for body, field in [
        ({"scope": "project", "request_metric": "cost", "request_limit": "1"}, "scope"),
        ({"scope": "feature", "request_limit": "1"}, "request_metric"),
        ({"scope": "feature", "request_metric": "output_tokens", "request_limit": "0"}, "request_limit"),
        ({"scope": "feature", "request_metric": "output_tokens", "request_limit": "10.5"}, "request_limit"),
    ]:
        bad = client.post(url, {"name": "bad", "kind": "request_budget", **body}, format="json")
        assert bad.status_code == 400 and field in bad.json(), (body, bad.content)
    wrong_kind = client.post(
        url, {"name": "b", "kind": "budget", "amount_usd": "5", "request_metric": "cost"}, format="json"
    )
    assert wrong_kind.status_code == 400 and "request_budget rules only" in str(wrong_kind.json())


def test_the_rules_page_creates_and_lists_a_request_budget(shop) -> None:  # noqa: ANN001
    from django.test import Client

    from alerts.models import Rule

    project, _ = shop
    admin = get_user_model().objects.create_user("lead", password="pw")
    set_member(project, admin, Role.ADMIN)
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/p/{project.slug}/alerts/rules/new/",
        {
            "name": "small summaries",
            "kind": "request_budget",
            "scope": "feature",
            "scope_value": "summarize",
            "request_metric": "input_tokens",
            "request_limit": "20000",
            "repeat_interval_minutes": "60",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(project=project, name="small summaries")
    assert (rule.kind, rule.request_metric, rule.request_limit) == ("request_budget", "input_tokens", 20000)
    listing = client.get(f"/p/{project.slug}/alerts/rules/").content.decode()
    assert "each request at most 20000 prompt tokens" in listing
