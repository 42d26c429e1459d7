from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from alerts.incidents import acknowledge, evaluate_rules, silence, unsilence
from alerts.models import Delivery, Incident, IncidentEvent
from costwatch.usage.models import LlmCall
from costwatch.usage.rollups import recompute_dirty
from costwatch.usage.services import mark_dirty
from tests.alerts.conftest import (
    make_channel,
    make_rule,
    put_daily_spend,
    put_spend,
    send_pending,
)
from tests.usage.factories import make_call

BERLIN = ZoneInfo("Europe/Berlin")
D = Decimal
pytestmark = pytest.mark.django_db


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def _ingest(project, *calls) -> None:  # noqa: ANN001
    LlmCall.objects.bulk_create(list(calls))
    mark_dirty(project, [c.started_at for c in calls])
    recompute_dirty()


def _history(incident: Incident) -> list[str]:
    return list(IncidentEvent.objects.filter(incident=incident).values_list("kind", flat=True))


def test_per_user_budget_breach_notifies_once_for_that_user_only(acme, globex, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, "webhook", url=receiver.url + "/hook")
    rule = make_rule(acme, [channel], name="Daily per user", scope="user", period="day", amount=D("1.00"))
    morning = berlin(2026, 11, 2, 9, 15)
    _ingest(
        acme,
        make_call(acme, trace="a1", at=morning, user="alice", cost=D("0.60")),
        make_call(acme, trace="b1", at=morning, user="bob", cost=D("0.30")),
    )
    _ingest(globex, make_call(globex, trace="g1", at=morning, user="alice", cost=D("50")))
    assert evaluate_rules(berlin(2026, 11, 2, 9, 30)).deliveries == []

    _ingest(acme, make_call(acme, trace="a2", at=berlin(2026, 11, 2, 10, 5), user="alice", cost=D("0.50")))
    now = berlin(2026, 11, 2, 10, 10)
    result = evaluate_rules(now)

    incident = Incident.objects.get()
    assert (incident.rule, incident.group_key, incident.level, incident.state) == (rule, "alice", "breach", "firing")
    assert (incident.value, incident.threshold, incident.period_key) == (D("1.1"), D(1), "2026-11-02")
    assert len(result.deliveries) == 1
    assert evaluate_rules(now + timedelta(seconds=30)).deliveries == []  # same transition: nothing new
    assert [o.status for o in send_pending(now)] == ["sent"]
    [request] = receiver.requests
    body = request.json()
    assert request.path == "/hook"
    assert body["event"] == "firing"
    assert body["rule"] == {"id": rule.pk, "name": "Daily per user", "kind": "budget"}
    assert body["scope"] == {"dimension": "user", "value": None}
    assert (body["group"], body["value"], body["threshold"], body["level"]) == ("alice", "1.1", "1", "breach")
    assert body["period"]["key"] == "2026-11-02" and body["period"]["timezone"] == "Europe/Berlin"
    assert body["link"] == f"https://costwatch.example/alerts/incidents/{incident.pk}/"
    assert "alice" in body["summary"] and "$1.10" in body["summary"]


def test_anomaly_with_seven_days_of_history_fires_above_twice_the_average(acme, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, "webhook", url=receiver.url)
    make_rule(acme, [channel], kind="anomaly", name="Spend spike")
    put_daily_spend(acme, berlin(2026, 11, 3), ["8", "12", "10", "9", "11", "10", "10"])  # avg 10
    put_spend(acme, berlin(2026, 11, 10, 9), "15")
    assert evaluate_rules(berlin(2026, 11, 10, 9, 30)).opened == 0
    put_spend(acme, berlin(2026, 11, 10, 11), "6")  # 21 today > 2 x 10
    now = berlin(2026, 11, 10, 11, 30)
    assert evaluate_rules(now).opened == 1

    incident = Incident.objects.get()
    assert (incident.level, incident.severity, incident.value, incident.threshold) == (
        "anomaly",
        "critical",
        D(21),
        D(20),
    )
    send_pending(now)
    body = receiver.requests[0].json()
    assert (body["level"], body["value"], body["threshold"], body["group"]) == ("anomaly", "21", "20", None)


def test_anomaly_average_starts_at_the_groups_first_spend(acme, receiver) -> None:  # noqa: ANN001
    make_rule(acme, [make_channel(acme, url=receiver.url)], kind="anomaly", scope="feature")
    put_daily_spend(acme, berlin(2026, 11, 7), ["10", "10", "10"], dimension="feature", key="search")
    put_spend(acme, berlin(2026, 11, 10, 9), "25", dimension="feature", key="search")
    evaluate_rules(berlin(2026, 11, 10, 10))
    # Over 7 days the average would be 30/7 and 25 would fire at any baseline; over 3 days it is 10: 25 > 20.
    assert Incident.objects.get().threshold == D(20)


def test_no_anomaly_under_the_minimum_baseline(acme, receiver) -> None:  # noqa: ANN001
    make_rule(acme, [make_channel(acme, url=receiver.url)], kind="anomaly")
    put_daily_spend(acme, berlin(2026, 11, 3), ["0.40"] * 7)
    put_spend(acme, berlin(2026, 11, 10, 9), "30")  # 75x the average, but the average is tiny
    result = evaluate_rules(berlin(2026, 11, 10, 10))
    assert (result.opened, Incident.objects.count(), Delivery.objects.count()) == (0, 0, 0)


def test_budget_incident_resolves_when_a_new_period_starts(acme, receiver) -> None:  # noqa: ANN001
    make_rule(acme, [make_channel(acme, url=receiver.url)], period="day", amount=D(5))
    put_spend(acme, berlin(2026, 11, 2, 18), "7")
    evaluate_rules(berlin(2026, 11, 2, 20))
    send_pending(berlin(2026, 11, 2, 20))
    new_day = berlin(2026, 11, 3, 0, 5)
    result = evaluate_rules(new_day)
    assert result.resolved == 1 and result.opened == 0
    incident = Incident.objects.get()
    assert (incident.state, incident.resolved_at) == ("resolved", new_day)
    assert _history(incident) == ["opened", "resolved"]
    send_pending(new_day)
    assert [r.json()["event"] for r in receiver.requests] == ["firing", "resolved"]
    assert receiver.requests[1].json()["incident"]["state"] == "resolved"
    assert evaluate_rules(new_day + timedelta(minutes=1)).deliveries == []


def test_reminders_repeat_while_unacknowledged_and_stop_after_ack(acme, receiver, django_user_model) -> None:  # noqa: ANN001
    make_rule(
        acme, [make_channel(acme, url=receiver.url)], period="month", amount=D(5), repeat_interval=timedelta(minutes=60)
    )
    put_spend(acme, berlin(2026, 11, 2, 8), "9")
    start = berlin(2026, 11, 2, 9)
    evaluate_rules(start)
    assert evaluate_rules(start + timedelta(minutes=59)).reminders == 0
    assert evaluate_rules(start + timedelta(minutes=60)).reminders == 1
    assert evaluate_rules(start + timedelta(minutes=61)).reminders == 0
    incident = Incident.objects.get()
    person = django_user_model.objects.create_user("oncall-olga")
    assert acknowledge(incident, person, start + timedelta(minutes=70)) is True
    assert acknowledge(incident, person, start + timedelta(minutes=71)) is False  # no-op, no second history row
    assert evaluate_rules(start + timedelta(hours=5)).reminders == 0
    incident.refresh_from_db()
    assert (incident.acknowledged_by, incident.reminders_sent) == (person, 1)
    assert _history(incident) == ["opened", "reminded", "acknowledged"]
    send_pending(start + timedelta(hours=5))
    assert [r.json()["event"] for r in receiver.requests] == ["firing", "reminder"]


def test_silence_holds_reminders_until_it_ends(acme, receiver, django_user_model) -> None:  # noqa: ANN001
    make_rule(
        acme, [make_channel(acme, url=receiver.url)], period="month", amount=D(5), repeat_interval=timedelta(minutes=30)
    )
    put_spend(acme, berlin(2026, 11, 2, 8), "9")
    start = berlin(2026, 11, 2, 9)
    evaluate_rules(start)
    incident = Incident.objects.get()
    person = django_user_model.objects.create_user("oncall-olga")
    assert silence(incident, person, start + timedelta(hours=2), "known batch job", start + timedelta(minutes=5))
    assert evaluate_rules(start + timedelta(minutes=90)).reminders == 0
    resumed = evaluate_rules(start + timedelta(hours=2, minutes=1))
    assert resumed.reminders == 1
    incident.refresh_from_db()
    assert (incident.silenced_until, incident.silence_reason) == (None, "")
    assert _history(incident) == ["opened", "silenced", "unsilenced", "reminded"]
    assert unsilence(incident, person) is False


def test_escalating_warning_is_superseded_without_a_resolved_notification(acme, receiver) -> None:  # noqa: ANN001
    make_rule(acme, [make_channel(acme, url=receiver.url)], period="day", amount=D(10), warn_percents=[80])
    put_spend(acme, berlin(2026, 11, 2, 8), "8.5")
    evaluate_rules(berlin(2026, 11, 2, 9))
    put_spend(acme, berlin(2026, 11, 2, 9), "3")
    evaluate_rules(berlin(2026, 11, 2, 10))
    warn, breach = Incident.objects.order_by("id")
    assert (warn.level, warn.state, breach.level, breach.state) == ("warn:80", "resolved", "breach", "firing")
    assert _history(warn) == ["opened", "superseded"]
    assert list(Delivery.objects.order_by("id").values_list("incident__level", "event")) == [
        ("warn:80", "firing"),
        ("breach", "firing"),
    ]
    send_pending(berlin(2026, 11, 2, 10))
    warn_body, breach_body = (r.json() for r in receiver.requests)
    assert warn_body["summary"].startswith("80% of budget")
    assert warn_body["dedup_key"] == breach_body["dedup_key"]  # one PagerDuty alert that escalates


def test_forecast_warns_when_the_month_is_on_course_to_exceed_the_budget(acme, receiver) -> None:  # noqa: ANN001
    make_rule(acme, [make_channel(acme, url=receiver.url)], period="month", amount=D(300), forecast=True)
    put_spend(acme, berlin(2026, 11, 5, 12), "120")  # a third of the budget after 1/6 of the month
    evaluate_rules(berlin(2026, 11, 6, 0))
    incident = Incident.objects.get()
    assert (incident.level, incident.severity, incident.threshold) == ("forecast", "warning", D(300))
    assert incident.value == D(720)


def test_scope_value_limits_a_rule_to_one_group(acme, receiver) -> None:  # noqa: ANN001
    make_rule(
        acme, [make_channel(acme, url=receiver.url)], scope="model", scope_value="gpt-4o", period="day", amount=D(1)
    )
    put_spend(acme, berlin(2026, 11, 2, 8), "5", dimension="model", key="gpt-4o")
    put_spend(acme, berlin(2026, 11, 2, 8), "5", dimension="model", key="claude-sonnet-4")
    evaluate_rules(berlin(2026, 11, 2, 9))
    assert list(Incident.objects.values_list("group_key", flat=True)) == ["gpt-4o"]


def test_disabling_a_rule_resolves_what_it_left_firing(acme, receiver) -> None:  # noqa: ANN001
    rule = make_rule(acme, [make_channel(acme, url=receiver.url)], period="day", amount=D(1))
    put_spend(acme, berlin(2026, 11, 2, 8), "5")
    evaluate_rules(berlin(2026, 11, 2, 9))
    rule.enabled = False
    rule.save()
    assert evaluate_rules(berlin(2026, 11, 2, 9, 1)).resolved == 1
    assert IncidentEvent.objects.filter(kind="resolved").get().note == "rule disabled"


def test_a_breach_that_fires_again_in_the_same_period_reopens_the_incident(acme, receiver) -> None:  # noqa: ANN001
    make_rule(acme, [make_channel(acme, url=receiver.url)], period="day", amount=D(5))
    put_spend(acme, berlin(2026, 11, 2, 8), "7")
    evaluate_rules(berlin(2026, 11, 2, 9))
    put_spend(acme, berlin(2026, 11, 2, 8), "2")  # re-priced downwards
    evaluate_rules(berlin(2026, 11, 2, 10))
    put_spend(acme, berlin(2026, 11, 2, 10), "4")
    evaluate_rules(berlin(2026, 11, 2, 11))
    incident = Incident.objects.get()
    assert (incident.state, incident.episode) == ("firing", 2)
    assert _history(incident) == ["opened", "resolved", "reopened"]
    assert list(Delivery.objects.order_by("id").values_list("event", "sequence")) == [
        ("firing", 1),
        ("resolved", 1),
        ("firing", 2),
    ]


def test_after_a_rollup_run_only_the_rules_of_the_projects_it_changed_are_evaluated(acme, globex, receiver) -> None:  # noqa: ANN001
    from costwatch.usage.rollups import recompute_dirty_run

    make_rule(acme, [], name="acme daily", period="day", amount=D(1))
    make_rule(globex, [], name="globex daily", period="day", amount=D(1))
    now = berlin(2026, 11, 2, 10)
    put_spend(globex, now - timedelta(hours=1), "5")  # over budget, but rolled up earlier
    LlmCall.objects.bulk_create([make_call(acme, trace="a1", at=berlin(2026, 11, 2, 9, 15), cost=D(2))])
    mark_dirty(acme, [berlin(2026, 11, 2, 9, 15)])
    run = recompute_dirty_run()
    assert (run.buckets, run.project_ids) == (1, {acme.pk})

    result = evaluate_rules(now, project_ids=run.project_ids)
    assert (result.rules, result.opened) == (1, 1)
    assert list(Incident.objects.values_list("rule__name", flat=True)) == ["acme daily"]
    assert evaluate_rules(now).opened == 1  # the periodic run evaluates every project
    assert Incident.objects.filter(rule__name="globex daily").exists()
