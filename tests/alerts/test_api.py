from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.incidents import evaluate_rules
from alerts.models import Delivery, Incident, Rule
from costwatch.projects.services import set_member
from tests.alerts.conftest import make_channel, make_rule, put_spend

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(acme, django_user_model) -> dict[str, APIClient]:  # noqa: ANN001
    clients = {}
    for role in ("admin", "finance", "oncall"):
        user = django_user_model.objects.create_user(f"{role}-person")
        set_member(acme, user, role)
        client = APIClient()
        client.force_login(user)
        clients[role] = client
    return clients


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _breach(project) -> Incident:  # noqa: ANN001
    make_rule(project, [], period="day", amount=Decimal(1))
    put_spend(project, timezone.now(), "3")
    evaluate_rules()
    return Incident.objects.get(project=project)


def test_an_admin_creates_a_channel_and_oncall_a_rule(people, receiver) -> None:  # noqa: ANN001
    oncall = people["oncall"]
    payload = {"kind": "webhook", "name": "ops hook", "config": {"url": receiver.url}}
    # A channel decides where Costwatch sends requests: admins only (SSRF).
    assert oncall.post("/api/v1/alerts/channels", payload, format="json").status_code == 403
    response = people["admin"].post("/api/v1/alerts/channels", payload, format="json")
    assert response.status_code == 201, response.content
    channel = response.json()
    assert channel["config"] == {"url": receiver.url} and len(channel["secret"]) > 30
    response = oncall.post(
        "/api/v1/alerts/rules",
        {
            "name": "Per-user daily",
            "kind": "budget",
            "scope": "user",
            "period": "day",
            "amount_usd": "2.50",
            "warn_percents": [90, 80, 80],
            "repeat_interval_minutes": 15,
            "channels": [channel["id"]],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    rule = response.json()
    assert (rule["amount_usd"], rule["warn_percents"], rule["channels"]) == ("2.5", [80, 90], [channel["id"]])
    assert rule["repeat_interval_minutes"] == 15 and rule["anomaly_factor"] == "2"
    response = oncall.patch(f"/api/v1/alerts/rules/{rule['id']}", {"enabled": False}, format="json")
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert Rule.objects.get().amount == Decimal("2.5")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "kind": "budget", "period": "day"}, "amount_usd"),
        ({"name": "x", "kind": "budget", "amount_usd": "-1"}, "amount_usd"),
        ({"name": "x", "kind": "budget", "amount_usd": "1", "scope": "project", "scope_value": "bob"}, "scope_value"),
        ({"name": "x", "kind": "anomaly", "warn_percents": [80]}, "kind"),
        ({"name": "x", "kind": "anomaly", "anomaly_factor": "0.5"}, "anomaly_factor"),
        ({"name": "x", "kind": "budget", "amount_usd": "1", "warn_percents": [150]}, "warn_percents"),
        ({"name": "x", "kind": "budget", "amount_usd": "1", "channels": [999999]}, "channels"),
        ({"name": "x", "kind": "sometimes"}, "kind"),
    ],
)
def test_bad_rules_are_refused_with_the_field_named(people, payload, field) -> None:  # noqa: ANN001
    response = people["admin"].post("/api/v1/alerts/rules", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Rule.objects.exists()


def test_a_bad_channel_config_is_refused_with_the_transports_reason(people, receiver) -> None:  # noqa: ANN001
    # Each kind's reasons are in test_transport_<kind>.py.
    admin = people["admin"]
    response = admin.post(
        "/api/v1/alerts/channels", {"kind": "webhook", "name": "c", "config": {"url": "ftp://x"}}, format="json"
    )
    assert response.status_code == 400
    assert "must be an http(s) URL" in response.json()["config"][0]
    channel = admin.post(
        "/api/v1/alerts/channels", {"kind": "webhook", "name": "c", "config": {"url": receiver.url}}, format="json"
    ).json()
    changed = admin.patch(f"/api/v1/alerts/channels/{channel['id']}", {"kind": "email"}, format="json")
    assert (
        changed.status_code == 400 and "to must list" in changed.json()["config"][0]
    )  # the kept config, checked again
    assert admin.patch(
        f"/api/v1/alerts/channels/{channel['id']}", {"kind": "email", "config": {"to": "a@b.example"}}, format="json"
    ).json()["config"] == {"to": ["a@b.example"]}


def test_roles_decide_who_may_manage_read_and_work_incidents(people, acme_read_key) -> None:  # noqa: ANN001
    payload = {"kind": "webhook", "name": "hook", "config": {"url": "https://hooks.example/x"}}
    assert people["finance"].post("/api/v1/alerts/channels", payload, format="json").status_code == 403
    assert key_client(acme_read_key).post("/api/v1/alerts/channels", payload, format="json").status_code == 403
    assert people["admin"].post("/api/v1/alerts/channels", payload, format="json").status_code == 201
    listed = people["finance"].get("/api/v1/alerts/channels").json()["results"]
    assert listed[0]["name"] == "hook" and "config" not in listed[0] and "secret" not in listed[0]
    via_key = key_client(acme_read_key).get("/api/v1/alerts/channels").json()["results"]
    assert "secret" not in via_key[0]


def test_incidents_are_listed_acknowledged_and_silenced(acme, people, acme_read_key) -> None:  # noqa: ANN001
    incident = _breach(acme)
    listed = key_client(acme_read_key).get("/api/v1/alerts/incidents?state=firing").json()["results"]
    assert [i["id"] for i in listed] == [incident.pk]
    assert listed[0]["value_usd"] == "3" and listed[0]["threshold_usd"] == "1"
    assert key_client(acme_read_key).post(f"/api/v1/alerts/incidents/{incident.pk}/ack").status_code == 403
    assert people["finance"].post(f"/api/v1/alerts/incidents/{incident.pk}/ack").status_code == 403

    acked = people["oncall"].post(f"/api/v1/alerts/incidents/{incident.pk}/ack")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "oncall-person"
    bad = people["oncall"].post(f"/api/v1/alerts/incidents/{incident.pk}/silence", {"minutes": 60}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    silenced = (
        people["oncall"]
        .post(f"/api/v1/alerts/incidents/{incident.pk}/silence", {"minutes": 60, "reason": "load test"}, format="json")
        .json()
    )
    assert silenced["silenced"] is True and silenced["silence_reason"] == "load test"
    assert people["oncall"].post(f"/api/v1/alerts/incidents/{incident.pk}/unsilence").json()["silenced"] is False
    detail = people["finance"].get(f"/api/v1/alerts/incidents/{incident.pk}").json()
    assert [(h["kind"], h["actor"]) for h in detail["history"]] == [
        ("opened", None),
        ("acknowledged", "oncall-person"),
        ("silenced", "oncall-person"),
        ("unsilenced", "oncall-person"),
    ]


def test_acknowledging_a_resolved_incident_is_a_conflict(acme, people) -> None:  # noqa: ANN001
    incident = _breach(acme)
    Rule.objects.update(enabled=False)
    evaluate_rules()
    response = people["oncall"].post(f"/api/v1/alerts/incidents/{incident.pk}/ack")
    assert response.status_code == 409 and "resolved" in response.json()["detail"]


def test_one_projects_key_never_sees_another_projects_alerts(acme, globex, globex_read_key) -> None:  # noqa: ANN001
    incident = _breach(acme)
    channel = make_channel(acme, url="https://hooks.example/acme")
    other = key_client(globex_read_key)
    assert other.get("/api/v1/alerts/incidents").json()["results"] == []
    assert other.get(f"/api/v1/alerts/incidents/{incident.pk}").status_code == 404
    assert other.get(f"/api/v1/alerts/channels/{channel.pk}").status_code == 404
    assert other.get("/api/v1/alerts/rules?project=acme").status_code == 403


def test_send_test_notification_writes_a_delivery_row(
    acme, people, receiver, django_capture_on_commit_callbacks
) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = people["oncall"].post(f"/api/v1/alerts/channels/{channel.pk}/test")
    assert response.status_code == 202
    delivery = Delivery.objects.get(pk=response.json()["id"])
    assert (delivery.event, delivery.status, delivery.channel) == ("test", "pending", channel)
    assert len(queued) == 1  # a sweep is requested once the row is committed


def test_budget_status_tells_an_app_what_a_user_has_left(acme, globex, acme_read_key) -> None:  # noqa: ANN001
    now = timezone.now()
    make_rule(acme, name="Per user daily", scope="user", period="day", amount=Decimal("5"))
    make_rule(acme, name="Alice special", scope="user", scope_value="alice", period="month", amount=Decimal("20"))
    make_rule(acme, name="Bob special", scope="user", scope_value="bob", period="month", amount=Decimal("20"))
    make_rule(acme, name="Project monthly", period="month", amount=Decimal("1000"))
    make_rule(acme, name="Spikes", kind="anomaly")
    make_rule(globex, name="Other tenant", period="day", amount=Decimal("1"))
    put_spend(acme, now, "6.25", dimension="user", key="alice")
    put_spend(acme, now, "1", dimension="user", key="bob")
    put_spend(acme, now, "7.25")
    put_spend(acme, now - timedelta(days=40), "999", dimension="user", key="alice")  # an earlier period

    response = key_client(acme_read_key).get("/api/v1/budgets/status?user=alice")
    assert response.status_code == 200
    body = response.json()
    assert body["exceeded"] is True and body["user"] == "alice"
    rows = {
        b["rule"]["name"]: (b["group"], b["spend_usd"], b["limit_usd"], b["remaining_usd"], b["exceeded"])
        for b in body["budgets"]
    }
    assert rows == {
        "Per user daily": ("alice", "6.25", "5", "0", True),
        "Alice special": ("alice", "6.25", "20", "13.75", False),
        "Project monthly": (None, "7.25", "1000", "992.75", False),
    }
    assert key_client(acme_read_key).get("/api/v1/budgets/status?user=nobody").json()["exceeded"] is False
