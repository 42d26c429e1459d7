"""Alert pages: firing incidents worked by on-call, history, rules and channels, budget status on cost pages."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db


def daily_budget(project, amount: str = "0.10", **fields):  # noqa: ANN001, ANN003, ANN201
    from alerts.rules import save_rule

    return save_rule(
        project, {"name": "Daily spend", "kind": "budget", "period": "day", "amount": Decimal(amount), **fields}, []
    )


@pytest.fixture
def firing(acme_data):  # noqa: ANN001, ANN201
    """A real incident: acme spent $0.38 today against a $0.10 daily budget, and the rules were evaluated."""
    from alerts.incidents import evaluate_rules
    from alerts.models import Incident

    daily_budget(acme_data)
    evaluate_rules()
    return Incident.objects.get(project=acme_data, state="firing")


@pytest.mark.parametrize("who", ["admin", "finance", "oncall"])
def test_every_role_sees_what_is_firing(people, firing, who) -> None:  # noqa: ANN001
    response = people.client(who).get("/p/acme/alerts/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Daily spend" in body and "$0.38 against $0.10" in body
    assert ("Acknowledge" in body) == (who in ("admin", "oncall"))


def test_oncall_acknowledges_an_incident(people, firing) -> None:  # noqa: ANN001
    response = people.client("oncall").post(f"/p/acme/alerts/incidents/{firing.pk}/acknowledge/", follow=True)
    assert response.status_code == 200
    assert "Acknowledged" in response.content.decode()
    firing.refresh_from_db()
    assert firing.acknowledged_by == people.oncall
    assert firing.events.filter(kind="acknowledged", actor=people.oncall).exists()


def test_oncall_silences_an_incident_with_a_reason(people, firing) -> None:  # noqa: ANN001
    from django.utils import timezone

    client = people.client("oncall")
    client.post(f"/p/acme/alerts/incidents/{firing.pk}/silence/", {"minutes": "60", "reason": "known batch job"})
    firing.refresh_from_db()
    assert firing.silence_reason == "known batch job"
    assert 55 * 60 < (firing.silenced_until - timezone.now()).total_seconds() <= 3600
    client.post(f"/p/acme/alerts/incidents/{firing.pk}/unsilence/")
    firing.refresh_from_db()
    assert firing.silenced_until is None


def test_silence_without_a_reason_changes_nothing(people, firing) -> None:  # noqa: ANN001
    response = people.client("oncall").post(
        f"/p/acme/alerts/incidents/{firing.pk}/silence/", {"minutes": "60", "reason": ""}, follow=True
    )
    assert "give a reason" in response.content.decode()
    firing.refresh_from_db()
    assert firing.silenced_until is None


def test_acknowledging_a_resolved_incident_explains_why_not(people, firing) -> None:  # noqa: ANN001
    from alerts.models import Incident

    Incident.objects.filter(pk=firing.pk).update(state="resolved")
    response = people.client("oncall").post(f"/p/acme/alerts/incidents/{firing.pk}/acknowledge/", follow=True)
    assert "Could not acknowledge: a resolved incident cannot be acknowledged" in response.content.decode()


def test_finance_cannot_acknowledge_or_silence(people, firing) -> None:  # noqa: ANN001
    client = people.client("finance")
    assert client.post(f"/p/acme/alerts/incidents/{firing.pk}/acknowledge/").status_code == 403
    assert (
        client.post(f"/p/acme/alerts/incidents/{firing.pk}/silence/", {"minutes": "60", "reason": "x"}).status_code
        == 403
    )
    firing.refresh_from_db()
    assert firing.acknowledged_at is None and firing.silenced_until is None


def test_incident_page_and_history_show_what_happened(people, firing) -> None:  # noqa: ANN001
    client = people.client("oncall")
    client.post(f"/p/acme/alerts/incidents/{firing.pk}/acknowledge/")
    detail = client.get(f"/p/acme/alerts/incidents/{firing.pk}/").content.decode()
    assert "Opened" in detail and "Acknowledged</strong> by oscar" in detail
    history = client.get("/p/acme/alerts/history/").content.decode()
    assert "Acknowledged" in history and "oscar" in history


def test_notification_links_lead_to_the_incident_in_its_project(people, firing) -> None:  # noqa: ANN001
    from alerts.notifications import incident_link

    path = incident_link(firing.pk).split("8000", 1)[1]
    assert people.client("finance").get(path)["Location"] == f"/p/acme/alerts/incidents/{firing.pk}/"
    assert people.client("outsider").get(path).status_code == 404


def test_oncall_creates_a_budget_rule_with_a_channel(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Rule
    from alerts.rules import save_channel

    channel = save_channel(acme, {"kind": "webhook", "name": "ops hook", "config": {"url": "http://127.0.0.1:9/"}})
    client = people.client("oncall")
    assert client.get("/p/acme/alerts/rules/new/").status_code == 200
    response = client.post(
        "/p/acme/alerts/rules/new/",
        {
            "name": "Per-user daily",
            "kind": "budget",
            "scope": "user",
            "scope_value": "",
            "period": "day",
            "amount_usd": "2.50",
            "warn_percents": "90, 80",
            "repeat_interval_minutes": "15",
            "enabled": "on",
            "channels": [str(channel.pk)],
        },
    )
    assert response.status_code == 302, response.content.decode()
    rule = Rule.objects.get(project=acme)
    assert (rule.scope, rule.period, rule.amount, rule.warn_percents) == ("user", "day", Decimal("2.5"), [80, 90])
    assert list(rule.channels.all()) == [channel]
    assert rule.repeat_interval.total_seconds() == 900


def test_oncall_creates_a_rule_for_each_tenant_of_a_custom_dimension(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Rule
    from costwatch.usage.dimensions import save_dimension

    tenant = save_dimension(acme, name="tenant", attribute_keys=["app.tenant"])
    client = people.client("oncall")
    form = client.get("/p/acme/alerts/rules/new/").content.decode()
    assert '<option value="tenant">Each tenant (custom dimension)</option>' in form
    response = client.post(
        "/p/acme/alerts/rules/new/",
        {
            "name": "Per-tenant daily",
            "kind": "budget",
            "scope": "tenant",
            "scope_value": "",
            "period": "day",
            "amount_usd": "20",
            "repeat_interval_minutes": "60",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    rule = Rule.objects.get(project=acme)
    assert (rule.scope, rule.scope_value, rule.amount) == (f"dim:{tenant.pk}", "", Decimal(20))
    assert "Each tenant (custom dimension)" in client.get("/p/acme/alerts/rules/").content.decode()
    edit = client.get(f"/p/acme/alerts/rules/{rule.pk}/").content.decode()
    assert '<option value="tenant" selected>Each tenant (custom dimension)</option>' in edit


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"kind": "budget", "scope": "plan", "amount_usd": "1"},
            "&#x27;plan&#x27; is not a scope of project acme: use project, user, feature, endpoint, model or one of its "
            "custom dimensions (tenant)",
        ),
        (
            {"kind": "request_budget", "scope": "tenant", "request_metric": "cost", "request_limit": "1"},
            "custom dimensions such as tenant are not supported for it",
        ),
    ],
)
def test_a_bad_scope_on_the_form_gets_the_alerts_apps_reason(people, acme, fields, reason) -> None:  # noqa: ANN001
    from alerts.models import Rule
    from costwatch.usage.dimensions import save_dimension

    save_dimension(acme, name="tenant", attribute_keys=["app.tenant"])
    response = people.client("oncall").post(
        "/p/acme/alerts/rules/new/", {"name": "x", "period": "day", "repeat_interval_minutes": "60", **fields}
    )
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Rule.objects.exists()


def test_a_budget_rule_without_an_amount_is_refused_with_the_alerts_apps_reason(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Rule

    response = people.client("oncall").post(
        "/p/acme/alerts/rules/new/",
        {"name": "No amount", "kind": "budget", "scope": "project", "period": "day", "repeat_interval_minutes": "60"},
    )
    assert response.status_code == 400
    assert "a budget rule needs an amount above 0" in response.content.decode()
    assert not Rule.objects.exists()


def test_admin_edits_and_disables_a_rule(people, acme) -> None:  # noqa: ANN001
    rule = daily_budget(acme, warn_percents=[80])
    client = people.client("admin")
    form = client.get(f"/p/acme/alerts/rules/{rule.pk}/").content.decode()
    assert 'value="Daily spend"' in form and 'value="80"' in form
    response = client.post(
        f"/p/acme/alerts/rules/{rule.pk}/",
        {
            "name": "Daily spend",
            "kind": "budget",
            "scope": "project",
            "period": "day",
            "amount_usd": "5",
            "warn_percents": "",
            "repeat_interval_minutes": "60",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.amount == Decimal(5) and rule.warn_percents == []
    client.post(f"/p/acme/alerts/rules/{rule.pk}/enabled/", {"enabled": "false"})
    rule.refresh_from_db()
    assert rule.enabled is False
    assert "Enable" in client.get("/p/acme/alerts/rules/").content.decode()


def test_finance_is_refused_on_a_rule_edit(people, acme) -> None:  # noqa: ANN001
    rule = daily_budget(acme)
    client = people.client("finance")
    assert client.get("/p/acme/alerts/rules/").status_code == 200
    assert client.get(f"/p/acme/alerts/rules/{rule.pk}/").status_code == 403
    assert (
        client.post(
            f"/p/acme/alerts/rules/{rule.pk}/",
            {
                "name": "Hacked",
                "kind": "budget",
                "scope": "project",
                "period": "day",
                "amount_usd": "9999",
                "repeat_interval_minutes": "60",
            },
        ).status_code
        == 403
    )
    assert client.post(f"/p/acme/alerts/rules/{rule.pk}/enabled/", {"enabled": "false"}).status_code == 403
    assert client.get("/p/acme/alerts/rules/new/").status_code == 403
    rule.refresh_from_db()
    assert (rule.name, rule.amount, rule.enabled) == ("Daily spend", Decimal("0.1"), True)


def test_an_admin_adds_a_channel_and_oncall_sends_a_test(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Channel, Delivery

    assert people.client("oncall").get("/p/acme/alerts/channels/new/").status_code == 403
    response = people.client("admin").post(
        "/p/acme/alerts/channels/new/",
        {"name": "Team email", "kind": "email", "to": "ops@example.com, cfo@example.com", "enabled": "on"},
    )
    assert response.status_code == 302
    channel = Channel.objects.get(project=acme)
    assert channel.config == {"to": ["ops@example.com", "cfo@example.com"]}
    client = people.client("oncall")
    response = client.post(f"/p/acme/alerts/channels/{channel.pk}/test/", follow=True)
    assert "Test notification" in response.content.decode()
    assert Delivery.objects.get(channel=channel).event == "test"
    assert "pending" in client.get("/p/acme/alerts/channels/").content.decode()


def test_a_bad_channel_config_is_refused_with_the_transports_reason(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Channel

    response = people.client("admin").post(
        "/p/acme/alerts/channels/new/", {"name": "PD", "kind": "pagerduty", "routing_key": "short", "enabled": "on"}
    )
    assert response.status_code == 400
    assert "routing_key must be the integration key" in response.content.decode()
    assert not Channel.objects.exists()


def test_finance_cannot_add_or_test_channels(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Delivery
    from alerts.rules import save_channel

    channel = save_channel(acme, {"kind": "webhook", "name": "hook", "config": {"url": "http://127.0.0.1:9/"}})
    client = people.client("finance")
    assert client.get("/p/acme/alerts/channels/").status_code == 200
    assert client.post("/p/acme/alerts/channels/new/", {"name": "x", "kind": "email", "to": "a@b.c"}).status_code == 403
    assert client.post(f"/p/acme/alerts/channels/{channel.pk}/test/").status_code == 403
    assert not Delivery.objects.exists()


def test_user_page_shows_the_users_budget_status(people, acme_data) -> None:  # noqa: ANN001
    from alerts.rules import save_rule

    save_rule(
        acme_data,
        {
            "name": "Per-user daily",
            "kind": "budget",
            "scope": "user",
            "period": "day",
            "amount": Decimal("0.30"),
            "warn_percents": [80],
        },
        [],
    )
    alice = people.client("finance").get("/p/acme/users/detail/?key=alice@example.com")
    [line] = alice.context["budgets"]
    assert (line.name, line.spent, line.amount, line.state) == (
        "Per-user daily",
        Decimal("0.375"),
        Decimal("0.3"),
        "over",
    )
    assert "over budget" in alice.content.decode()
    [bob] = people.client("finance").get("/p/acme/users/detail/?key=bob").context["budgets"]
    assert bob.state == "ok"


def test_a_failed_notification_is_flagged_on_the_firing_list_and_in_the_api(people, firing) -> None:  # noqa: ANN001
    from django.utils import timezone

    from alerts.models import Delivery
    from alerts.rules import save_channel

    channel = save_channel(
        firing.project, {"kind": "webhook", "name": "hook", "config": {"url": "http://127.0.0.1:9/"}}
    )
    for sequence, (error, age) in enumerate((("connection refused", 60), ("HTTP 502 from 127.0.0.1", 0)), start=1):
        Delivery.objects.create(
            project=firing.project,
            incident=firing,
            channel=channel,
            event="reminder",
            sequence=sequence,
            payload={},
            status="failed",
            attempts=8,
            next_attempt_at=timezone.now(),
            last_error=error,
            created_at=timezone.now() - timezone.timedelta(seconds=age),
        )
    body = people.client("oncall").get("/p/acme/alerts/").content.decode()
    assert "notification failed" in body and "2 notifications could not be delivered" in body
    assert "HTTP 502 from 127.0.0.1" in body
    data = people.client("oncall").get(f"/api/v1/alerts/incidents/{firing.pk}?project=acme").json()
    assert data["failed_deliveries"] == 2 and data["last_delivery_error"] == "HTTP 502 from 127.0.0.1"


def test_alert_times_read_in_the_projects_time_zone(people, firing) -> None:  # noqa: ANN001
    from datetime import UTC

    from django.utils import timezone

    body = people.client("oncall").get(f"/p/acme/alerts/incidents/{firing.pk}/").content.decode()
    local = timezone.localtime(firing.opened_at, firing.project.tz)
    assert f"{local:%H:%M} {local:%Z}" in body  # Europe/Berlin: CET or CEST, not UTC
    assert f'datetime="{firing.opened_at.astimezone(UTC).isoformat()}"' in body


def test_saving_a_rule_without_a_channel_warns_that_it_notifies_nobody(people, acme) -> None:  # noqa: ANN001
    response = people.client("oncall").post(
        "/p/acme/alerts/rules/new/",
        {
            "name": "Spike",
            "kind": "anomaly",
            "scope": "project",
            "anomaly_factor": "2",
            "anomaly_days": "7",
            "min_baseline_usd": "1",
            "min_spend_usd": "5",
            "repeat_interval_minutes": "60",
            "enabled": "on",
        },
        follow=True,
    )
    body = response.content.decode()
    assert "message warning" in body and "it notifies nobody" in body
    assert "no channel: notifies nobody" in body


def test_the_rule_form_groups_fields_by_kind_and_marks_required_ones(people, acme) -> None:  # noqa: ANN001
    body = people.client("oncall").get("/p/acme/alerts/rules/new/").content.decode()
    budget = body[body.index('data-kind="budget"') : body.index('data-kind="anomaly"')]
    assert 'id="id_amount_usd"' in budget and 'id="id_anomaly_factor"' not in budget
    amount_label = re.search(r'<label for="id_amount_usd">.*?</label>', budget, re.S).group(0)
    assert "(required)" in amount_label
    assert "/static/frontend/rule_form.js" in body
