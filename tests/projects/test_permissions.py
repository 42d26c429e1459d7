from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from costwatch.projects.models import Role
from costwatch.projects.permissions import (
    READ_ACTIONS,
    Action,
    ActionNotAllowed,
    ProjectNotNamed,
    ProjectNotVisible,
    can,
    project_for,
)
from costwatch.projects.services import set_member


@pytest.fixture
def people(acme):  # noqa: ANN001, ANN201
    users = get_user_model().objects
    result = {}
    for role in Role:
        user = users.create_user(username=f"{role.value}-person", password="x" * 12)
        set_member(acme, user, role)
        result[role] = user
    result["outsider"] = users.create_user(username="outsider", password="x" * 12)
    return result


def test_finance_reads_and_exports_but_changes_nothing(acme, people) -> None:
    finance = people[Role.FINANCE]
    assert can(finance, acme, Action.VIEW_COSTS) and can(finance, acme, Action.EXPORT_COSTS)
    for action in (Action.MANAGE_ALERTS, Action.WORK_INCIDENTS, Action.MANAGE_KEYS, Action.MANAGE_MEMBERS):
        assert not can(finance, acme, action)


def test_oncall_works_alerts_but_not_keys(acme, people) -> None:
    oncall = people[Role.ONCALL]
    assert can(oncall, acme, Action.WORK_INCIDENTS) and can(oncall, acme, Action.MANAGE_ALERTS)
    assert not can(oncall, acme, Action.MANAGE_KEYS)
    assert not can(oncall, acme, Action.EXPORT_COSTS)


def test_admin_does_all_and_outsiders_nothing(acme, globex, people) -> None:
    assert all(can(people[Role.ADMIN], acme, action) for action in Action)
    assert not any(can(people["outsider"], acme, action) for action in Action)
    assert not any(can(people[Role.ADMIN], globex, action) for action in Action)


# --- The API and the pages take one decision ------------------------------------------------------
# For every action, one API call and one page that need exactly it. A refusal is 403 in the API and
# 404 (project not visible) or 403 (role) on a page; anything else means the gate let the caller in.
# Each probe either changes nothing (a GET, or a body the view refuses with 400) or is harmless to
# repeat (acknowledging the same incident).
PROBES: dict[Action, tuple[tuple[str, str, dict] | None, tuple[str, str, dict]]] = {
    Action.VIEW_COSTS: (("get", "/api/v1/costs?group_by=user&project=acme", {}), ("get", "/p/acme/users/", {})),
    Action.EXPORT_COSTS: (
        ("get", "/api/v1/costs?group_by=user&format=csv&project=acme", {}),
        ("get", "/p/acme/users/?format=csv", {}),
    ),
    Action.VIEW_ALERTS: (("get", "/api/v1/alerts/rules?project=acme", {}), ("get", "/p/acme/alerts/rules/", {})),
    Action.WORK_INCIDENTS: (
        ("post", "/api/v1/alerts/incidents/{incident}/ack?project=acme", {}),
        ("post", "/p/acme/alerts/incidents/{incident}/acknowledge/", {}),
    ),
    Action.MANAGE_ALERTS: (("post", "/api/v1/alerts/rules?project=acme", {}), ("get", "/p/acme/alerts/rules/new/", {})),
    Action.MANAGE_CHANNELS: (
        ("post", "/api/v1/alerts/channels?project=acme", {}),
        ("get", "/p/acme/alerts/channels/new/", {}),
    ),
    Action.MANAGE_PRICES: (
        ("post", "/api/v1/reprice?project=acme", {"since": ""}),
        ("post", "/p/acme/pricing/overrides/", {}),
    ),
    Action.MANAGE_KEYS: (("get", "/api/v1/billing/sources?project=acme", {}), ("get", "/p/acme/settings/keys/", {})),
    Action.IMPORT_BILLS: (
        ("post", "/api/v1/billing/imports?project=acme", {}),
        ("post", "/p/acme/reconciliation/imports/", {}),
    ),
    Action.MANAGE_MEMBERS: (None, ("get", "/p/acme/settings/members/", {})),  # no members API
    Action.MANAGE_DIMENSIONS: (
        ("post", "/api/v1/dimensions?project=acme", {}),
        ("post", "/p/acme/settings/dimensions/", {}),
    ),
}
WHO = ("admin", "finance", "oncall", "outsider", "superuser", "acme key", "globex key")


@pytest.fixture
def callers(acme, globex, people):  # noqa: ANN001, ANN201
    """Each kind of caller: the three roles in acme, globex's admin, a superuser of no project, and
    a read key of each project. People get a session; keys are sent as a bearer token."""
    from costwatch.projects.authentication import KeyPrincipal
    from costwatch.projects.services import issue_key

    users = get_user_model().objects
    outsider = users.create_user(username="globex-admin")
    set_member(globex, outsider, Role.ADMIN)
    principals = {
        "admin": people[Role.ADMIN],
        "finance": people[Role.FINANCE],
        "oncall": people[Role.ONCALL],
        "outsider": outsider,
        "superuser": users.create_superuser("root", password=None),
    }
    clients = {}
    for who, user in principals.items():
        clients[who] = Client()
        clients[who].force_login(user)
    for who, project in (("acme key", acme), ("globex key", globex)):
        issued = issue_key(project, "read")
        principals[who] = KeyPrincipal(issued.key)
        clients[who] = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return principals, clients


@pytest.fixture
def incident(acme):  # noqa: ANN001, ANN201
    from alerts.incidents import evaluate_rules
    from alerts.models import Incident
    from tests.alerts.conftest import make_rule, put_spend

    make_rule(acme, [], period="day", amount=Decimal(1))
    put_spend(acme, timezone.now(), "3")
    evaluate_rules()
    return Incident.objects.get(project=acme)


def _call(client: Client, probe: tuple[str, str, dict], incident: object) -> int:
    method, url, body = probe
    url = url.format(incident=incident.pk)  # type: ignore[attr-defined]
    if method == "get":
        return client.get(url).status_code
    if url.startswith("/api/"):
        return client.post(url, body, content_type="application/json").status_code
    return client.post(url, body).status_code


def _gate(principal: object, action: Action) -> str:
    try:
        project_for(principal, "acme", action)
    except ProjectNotVisible:
        return "not visible"
    except ActionNotAllowed:
        return "not allowed"
    return "allowed"


@pytest.mark.parametrize("who", WHO)
def test_api_and_pages_give_each_caller_the_gates_answer_for_every_action(acme, callers, incident, who) -> None:  # noqa: ANN001
    principals, clients = callers
    gate = {action: _gate(principals[who], action) for action in Action}
    assert {a for a, verdict in gate.items() if verdict == "allowed"} == {
        a for a in Action if can(principals[who], acme, a)
    }
    # The API answers every refusal with 403.
    api = {a: _call(clients[who], probe, incident) == 403 for a, (probe, _) in PROBES.items() if probe is not None}
    assert api == {a: gate[a] != "allowed" for a in api}
    if who.endswith("key"):  # pages are for signed-in people: a key is sent to sign in
        assert {_call(clients[who], probe, incident) for _, probe in PROBES.values()} == {302}
        return
    pages = {
        a: {404: "not visible", 403: "not allowed"}.get(_call(clients[who], probe, incident), "allowed")
        for a, (_, probe) in PROBES.items()
    }
    assert pages == gate


def test_the_rule_for_each_caller(acme, callers) -> None:  # noqa: ANN001
    principals, _ = callers
    allowed = {who: {a for a in Action if _gate(principals[who], a) == "allowed"} for who in WHO}
    assert allowed == {
        "admin": set(Action),
        "superuser": set(Action),
        "finance": {Action.VIEW_COSTS, Action.EXPORT_COSTS, Action.VIEW_ALERTS, Action.IMPORT_BILLS},
        "oncall": {Action.VIEW_COSTS, Action.VIEW_ALERTS, Action.WORK_INCIDENTS, Action.MANAGE_ALERTS},
        "outsider": set(),
        "acme key": set(READ_ACTIONS),
        "globex key": set(),
    }
    assert _gate(principals["outsider"], Action.VIEW_COSTS) == "not visible"
    assert _gate(principals["globex key"], Action.VIEW_COSTS) == "not visible"
    assert _gate(principals["acme key"], Action.MANAGE_ALERTS) == "not allowed"


def test_a_change_never_guesses_the_project_in_any_api(acme, globex, callers) -> None:  # noqa: ANN001
    """Without ?project a read opens the caller's first project; a change from someone who sees
    several (a superuser sees all) is refused with 400 in every app's API alike."""
    principals, clients = callers
    root = clients["superuser"]
    with pytest.raises(ProjectNotNamed):
        project_for(principals["superuser"], None, Action.MANAGE_ALERTS)
    assert project_for(principals["superuser"], None, Action.VIEW_COSTS) == acme
    assert root.get("/api/v1/summary").json()["project"] == "acme"
    for url in (
        "/api/v1/alerts/rules",
        "/api/v1/alerts/channels",
        "/api/v1/dimensions",
        "/api/v1/reprice",
        "/api/v1/savings/alternatives",
    ):
        response = root.post(url, {}, content_type="application/json")
        assert response.status_code == 400 and "?project=<slug>" in response.json()["detail"], url
    # A member of one project needs no slug; a key's project is its own.
    assert project_for(principals["admin"], None, Action.MANAGE_ALERTS) == acme
    assert project_for(principals["acme key"], None, Action.VIEW_COSTS) == acme
