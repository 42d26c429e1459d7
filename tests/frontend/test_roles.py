"""Every page for every role, and tenancy: a member of one project gets nothing of another's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.frontend.conftest import TRACE_ALICE

pytestmark = pytest.mark.django_db

ALL = {"admin", "finance", "oncall"}
# page -> roles that may open it (everyone else in the project gets 403)
PAGES = {
    "/p/acme/": ALL,
    "/p/acme/users/": ALL,
    "/p/acme/users/?format=csv": {"admin", "finance"},
    "/p/acme/users/detail/?key=bob": ALL,
    "/p/acme/users/detail/breakdown/?key=bob&by=model": ALL,
    "/p/acme/features/": ALL,
    "/p/acme/features/?format=csv": {"admin", "finance"},
    "/p/acme/features/detail/?key=chat": ALL,
    "/p/acme/endpoints/": ALL,
    "/p/acme/endpoints/?format=csv": {"admin", "finance"},
    "/p/acme/endpoints/detail/?key=/api/chat": ALL,
    "/p/acme/models/": ALL,
    "/p/acme/models/?format=csv": {"admin", "finance"},
    "/p/acme/models/detail/?key=gpt-4o": ALL,
    f"/p/acme/requests/{TRACE_ALICE}/": ALL,
    "/p/acme/pricing/": ALL,
    "/p/acme/settings/keys/": {"admin"},
    "/p/acme/settings/members/": {"admin"},
    "/p/acme/alerts/": ALL,
    "/p/acme/alerts/history/": ALL,
    "/p/acme/alerts/incidents/{incident}/": ALL,
    "/p/acme/alerts/rules/": ALL,
    "/p/acme/alerts/rules/new/": {"admin", "oncall"},
    "/p/acme/alerts/rules/{rule}/": {"admin", "oncall"},
    "/p/acme/alerts/channels/": ALL,
    # A channel chooses where Costwatch sends requests (SSRF): admins only.
    "/p/acme/alerts/channels/new/": {"admin"},
    "/p/acme/alerts/channels/{channel}/": {"admin"},
}
ACTIONS = {  # POSTs -> roles allowed
    "/p/acme/alerts/incidents/{incident}/acknowledge/": {"admin", "oncall"},
    "/p/acme/alerts/rules/{rule}/enabled/": {"admin", "oncall"},
    "/p/acme/alerts/channels/{channel}/test/": {"admin", "oncall"},
    "/p/acme/settings/keys/": {"admin"},
    "/p/acme/settings/keys/{key}/revoke/": {"admin"},
    "/p/acme/settings/members/": {"admin"},
    "/p/acme/pricing/overrides/": {"admin"},
}


@pytest.fixture
def everything(acme_data):  # noqa: ANN001, ANN201
    from alerts.incidents import evaluate_rules
    from alerts.models import Incident
    from alerts.rules import save_channel, save_rule
    from costwatch.projects.services import issue_key

    channel = save_channel(acme_data, {"kind": "webhook", "name": "hook", "config": {"url": "http://127.0.0.1:9/"}})
    rule = save_rule(acme_data, {"name": "Daily", "kind": "budget", "period": "day", "amount": Decimal("0.1")}, [])
    evaluate_rules()
    return {
        "rule": rule.pk,
        "channel": channel.pk,
        "incident": Incident.objects.get(project=acme_data).pk,
        "key": issue_key(acme_data, "read").key.pk,
    }


@pytest.mark.parametrize("who", sorted(ALL))
def test_each_page_opens_for_the_roles_that_may_and_is_refused_otherwise(people, everything, who) -> None:  # noqa: ANN001
    client = people.client(who)
    outcome = {url: client.get(url.format(**everything)).status_code for url in PAGES}
    assert outcome == {url: 200 if who in roles else 403 for url, roles in PAGES.items()}


@pytest.mark.parametrize("who", ["finance", "oncall"])
def test_actions_are_refused_for_roles_that_may_not(people, everything, who) -> None:  # noqa: ANN001
    client = people.client(who)
    refused = {url for url, roles in ACTIONS.items() if who not in roles}
    assert {url for url in refused if client.post(url.format(**everything), {}).status_code == 403} == refused


def test_a_member_of_one_project_gets_404_on_every_page_of_another(people, everything) -> None:  # noqa: ANN001
    client = people.client("outsider")  # admin of globex, nothing in acme
    assert {url: client.get(url.format(**everything)).status_code for url in PAGES} == dict.fromkeys(PAGES, 404)
    assert {url: client.post(url.format(**everything), {}).status_code for url in ACTIONS} == dict.fromkeys(
        ACTIONS, 404
    )


def test_a_superuser_may_open_any_project(people, everything) -> None:  # noqa: ANN001
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password=None))
    assert client.get("/p/acme/").status_code == 200
    assert client.get("/p/acme/settings/keys/").status_code == 200


def test_nav_offers_only_what_the_role_may_do(people, everything) -> None:  # noqa: ANN001
    finance = people.client("finance").get("/p/acme/users/").content.decode()
    oncall = people.client("oncall").get("/p/acme/alerts/rules/").content.decode()
    admin = people.client("admin").get("/p/acme/").content.decode()
    assert "Export CSV" in finance and ">Settings<" not in finance
    assert "New rule" in oncall and ">Settings<" not in oncall
    assert ">Settings<" in admin
    assert "New rule" not in people.client("finance").get("/p/acme/alerts/rules/").content.decode()
