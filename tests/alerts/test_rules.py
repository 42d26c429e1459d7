"""A rule's validity has one owner, ``alerts.rules.validate_rule``: the API and the rule page call it
with what they parsed, and save what it returns with ``save_rule``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from alerts.models import Rule
from alerts.rules import RuleInvalid, save_rule, validate_rule
from costwatch.projects.services import set_member
from costwatch.usage.dimensions import save_dimension
from tests.alerts.conftest import make_channel, make_rule

pytestmark = pytest.mark.django_db
D = Decimal


def _refused(project, data: dict, rule: Rule | None = None) -> tuple[str, str]:  # noqa: ANN001
    with pytest.raises(RuleInvalid) as refused:
        validate_rule(project, data, rule)
    return refused.value.field, refused.value.message


def test_a_rule_in_peoples_names_becomes_model_fields_and_channels(acme, globex) -> None:  # noqa: ANN001
    channel = make_channel(acme, url="https://hooks.example/a")
    changes = validate_rule(
        acme,
        {
            "name": " Per-user daily ",
            "kind": "budget",
            "scope": "user",
            "scope_value": None,
            "period": "day",
            "amount_usd": D("2.50"),
            "warn_percents": [90, 80, 80],
            "repeat_interval_minutes": 15,
            "min_spend_usd": D(3),
            "channels": [channel.pk],
        },
    )
    assert changes.fields == {
        "name": "Per-user daily",
        "kind": "budget",
        "scope": "user",
        "scope_value": "",
        "period": "day",
        "amount": D("2.50"),
        "warn_percents": [80, 90],
        "repeat_interval": timedelta(minutes=15),
        "min_spend": D(3),
    }
    assert changes.channels == [channel]
    assert validate_rule(acme, {"name": "x", "kind": "anomaly"}).fields["scope"] == "project"  # the default
    other = make_channel(globex, url="https://hooks.example/g")
    assert _refused(acme, {"name": "x", "kind": "anomaly", "channels": [other.pk]}) == (
        "channels",
        f"no channel(s) [{other.pk}] in project acme",
    )


def test_an_update_is_judged_with_the_rules_other_fields(acme) -> None:  # noqa: ANN001
    rule = make_rule(acme, name="Daily", period="day", amount=D(5))
    assert validate_rule(acme, {"amount_usd": D(7)}, rule).fields == {"amount": D(7)}
    assert _refused(acme, {"amount_usd": None}, rule) == ("amount_usd", "a budget rule needs an amount above 0")
    assert _refused(acme, {"scope_value": "bob"}, rule) == ("scope_value", "a project-wide rule has no scope value")
    assert _refused(acme, {"kind": "request_budget"}, rule)[0] == "scope"
    assert _refused(acme, {"kind": "anomaly", "forecast": True}, rule) == (
        "kind",
        "warn_percents and forecast apply to budget rules only",
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"anomaly_factor": D("0.5")}, "anomaly_factor", "greater than or equal to 1.001"),
        ({"anomaly_days": 91}, "anomaly_days", "less than or equal to 90"),
        ({"repeat_interval_minutes": 0}, "repeat_interval_minutes", "greater than or equal to 1"),
        ({"warn_percents": [80, 150]}, "warn_percents", "less than or equal to 99"),
        ({"warn_percents": list(range(1, 12))}, "warn_percents", "no more than 10 elements"),
        ({"period": "fortnight"}, "period", '"fortnight" is not a valid choice.'),
        ({"drift_provider": "acme-ai"}, "drift_provider", "not a valid choice"),
        ({"name": "  "}, "name", "may not be blank"),
    ],
)
def test_values_are_checked_for_every_caller_not_only_by_a_parser(acme, data, field, message) -> None:  # noqa: ANN001
    found, text = _refused(acme, {"name": "x", "kind": "budget", "amount_usd": D(1), **data})
    assert found == field and message in text


def test_a_new_rule_needs_a_name_and_a_kind(acme) -> None:  # noqa: ANN001
    assert _refused(acme, {"kind": "budget"}) == ("name", "This field is required.")
    assert _refused(acme, {"name": "x"}) == ("kind", "This field is required.")


def test_the_api_and_the_page_refuse_a_bad_rule_with_the_same_reason(acme, django_user_model) -> None:  # noqa: ANN001
    admin = django_user_model.objects.create_user("boss")
    set_member(acme, admin, "admin")
    api, page = APIClient(), Client()
    api.force_login(admin)
    page.force_login(admin)
    reason = "warn_percents and forecast apply to budget rules only"
    response = api.post("/api/v1/alerts/rules", {"name": "x", "kind": "anomaly", "warn_percents": [80]}, format="json")
    assert response.status_code == 400 and response.json() == {"kind": [reason]}
    response = page.post(
        "/p/acme/alerts/rules/new/",
        {"name": "x", "kind": "anomaly", "scope": "project", "warn_percents": "80", "repeat_interval_minutes": "60"},
    )
    assert response.status_code == 400 and reason in response.content.decode()
    assert not Rule.objects.exists()


def test_saving_a_rule_whose_dimension_was_deleted_meanwhile_is_refused_on_scope(acme) -> None:  # noqa: ANN001
    tenant = save_dimension(acme, name="tenant", attribute_keys=["app.tenant"])
    changes = validate_rule(acme, {"name": "x", "kind": "budget", "scope": "tenant", "amount_usd": D(1)})
    assert changes.fields["scope"] == f"dim:{tenant.pk}"
    tenant.delete()
    with pytest.raises(RuleInvalid) as refused:
        save_rule(acme, changes.fields, changes.channels)
    assert refused.value.field == "scope" and "no longer exists" in refused.value.message
    assert not Rule.objects.exists()
