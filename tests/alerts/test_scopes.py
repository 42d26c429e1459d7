"""Budgets and anomaly rules scoped by a custom dimension (issue 19), through the front door: spans
with a tenant on the span or on the resource POSTed to /v1/traces, rolled up by the real rollup
code, rules created through the API, evaluated, and notifications sent to a real local receiver."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.incidents import evaluate_rules
from alerts.models import Incident, Rule
from costwatch.usage.models import CustomDimension, RollupHour
from tests.alerts.conftest import send_pending
from tests.usage.test_accounting import _post, _project
from tests.usage.test_dimensions import (  # noqa: F401
    _add_dimension,
    _admin_client,
    _export,
    _rolled_up,
    _span,
    prices,
)

pytestmark = pytest.mark.django_db
D = Decimal
PER_INPUT_TOKEN = D("2.5") / 10**6  # gpt-4o input (the prices fixture)


def _today_anchor() -> datetime:
    """A moment of today (UTC, the test projects' zone) in the past or just now: spans sent at it
    always fall in today's budget period, even just after midnight."""
    now = timezone.now()
    return max(now - timedelta(minutes=2), now.replace(hour=0, minute=0, second=0, microsecond=0))


class Requests:
    """Requests sent to /v1/traces: a SERVER root span and one chat call under it, the tenant on the
    root span's attributes or on the resource (none: a call without a tenant)."""

    def __init__(self, ingest_key: str) -> None:
        self.key = ingest_key
        self.count = 0

    def send(self, at: datetime, tokens: int, tenant: str | None, *, on_resource: bool = False) -> D:
        self.count += 1
        trace, root = f"{self.count:032x}", f"{self.count:016x}"
        resource = {"service.name": "api", **({"app.tenant": tenant} if tenant and on_resource else {})}
        root_attrs = {"http.route": "/chat", **({"app.tenant": tenant} if tenant and not on_resource else {})}
        spans = [
            _span(trace, root, at, attrs=root_attrs, kind=2, name="POST /chat"),
            _span(trace, f"{self.count:08x}{1:08x}", at, parent=root, chat=(tokens, 0)),
        ]
        _post(self.key, _export([(resource, spans)]))
        return tokens * PER_INPUT_TOKEN


def _tenant_project(slug: str, **dimension: object) -> tuple:
    project, ingest, read = _project(slug)
    admin = _admin_client(project)
    _add_dimension(admin, project, "tenant", ["app.tenant"], **dimension)
    return project, admin, Requests(ingest)


def _webhook(admin: APIClient, project, url: str) -> int:  # noqa: ANN001
    response = admin.post(
        f"/api/v1/alerts/channels?project={project.slug}",
        {"kind": "webhook", "name": "ops", "config": {"url": url}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _rule(admin: APIClient, project, **fields: object) -> dict:  # noqa: ANN001
    response = admin.post(f"/api/v1/alerts/rules?project={project.slug}", fields, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_budget_per_tenant_fires_for_the_tenant_over_it_only_and_names_it(receiver) -> None:  # noqa: ANN001
    project, admin, requests = _tenant_project("shop")
    at = _today_anchor()
    # acme (on its root spans) spends $1.50, globex (on its resource) $0.25; calls without a tenant $2.
    spent = {
        "acme": requests.send(at, 300_000, "acme") + requests.send(at, 300_000, "acme"),
        "globex": requests.send(at, 100_000, "globex", on_resource=True),
        "": requests.send(at, 800_000, None),
    }
    _rolled_up()
    channel = _webhook(admin, project, receiver.url + "/hook")
    rule = _rule(
        admin,
        project,
        name="Per-tenant daily",
        kind="budget",
        scope="tenant",
        period="day",
        amount_usd="1.00",
        channels=[channel],
    )
    assert (rule["scope"], rule["scope_value"], rule["warnings"]) == ("tenant", None, [])
    tenant = CustomDimension.objects.get(project=project, name="tenant")
    assert Rule.objects.get(pk=rule["id"]).scope == f"dim:{tenant.pk}"  # stored by id: a rename keeps the rule

    now = timezone.now()
    result = evaluate_rules(now)
    incident = Incident.objects.get()
    assert (incident.group_key, incident.level, incident.value) == ("acme", "breach", spent["acme"])
    assert len(result.deliveries) == 1
    assert [o.status for o in send_pending(now)] == ["sent"]
    [request] = receiver.requests
    body = request.json()
    assert body["scope"] == {"dimension": "tenant", "value": None}
    assert (body["group"], body["level"]) == ("acme", "breach")
    assert "Budget reached: tenant acme spent $1.50 of $1.00 this day" in body["summary"]
    assert "dim:" not in request.body.decode() and "warnings" not in body

    listed = admin.get(f"/api/v1/alerts/incidents?project={project.slug}").json()["results"]
    assert [(i["group"], i["rule"]["scope"]) for i in listed] == [("acme", "tenant")]
    # Renaming the dimension renames it everywhere the rule is shown.
    assert (
        admin.patch(
            f"/api/v1/dimensions/tenant?project={project.slug}", {"name": "customer"}, format="json"
        ).status_code
        == 200
    )
    assert admin.get(f"/api/v1/alerts/rules/{rule['id']}?project={project.slug}").json()["scope"] == "customer"


def test_one_tenant_budget_watches_that_tenant_only() -> None:
    project, admin, requests = _tenant_project("shop")
    at = _today_anchor()
    requests.send(at, 800_000, "globex", on_resource=True)
    requests.send(at, 100_000, "acme")
    _rolled_up()
    rule = _rule(
        admin,
        project,
        name="acme daily",
        kind="budget",
        scope="tenant",
        scope_value="acme",
        period="day",
        amount_usd="1.00",
    )
    assert rule["scope_value"] == "acme"
    evaluate_rules(timezone.now())
    assert not Incident.objects.exists()
    requests.send(at, 400_000, "acme")
    _rolled_up()
    evaluate_rules(timezone.now())
    assert list(Incident.objects.values_list("group_key", "level")) == [("acme", "breach")]


def test_values_past_the_daily_limit_are_not_one_tenant_and_the_rule_says_so(receiver) -> None:  # noqa: ANN001
    project, admin, requests = _tenant_project("shop", max_values_per_day=2)
    at = _today_anchor()
    requests.send(at, 500_000, "acme")  # $1.25: over the $1 budget
    requests.send(at + timedelta(seconds=1), 100_000, "globex")
    # Three more tenants past the limit of 2: $0.75 each, $2.25 together under (other).
    for i, name in enumerate(("initech", "umbrella", "hooli")):
        requests.send(at + timedelta(seconds=2 + i), 300_000, name, on_resource=True)
    _rolled_up()
    assert RollupHour.objects.filter(project=project, key="(other)").exists()
    channel = _webhook(admin, project, receiver.url)
    rule = _rule(
        admin,
        project,
        name="Per-tenant daily",
        kind="budget",
        scope="tenant",
        period="day",
        amount_usd="1.00",
        channels=[channel],
    )
    [warning] = rule["warnings"]
    assert "(other)" in warning and "not checked" in warning and at.date().isoformat() in warning

    now = timezone.now()
    evaluate_rules(now)
    assert list(Incident.objects.values_list("group_key", flat=True)) == ["acme"]  # never "(other)"
    send_pending(now)
    [request] = receiver.requests
    body = request.json()
    assert body["group"] == "acme"
    assert body["warnings"] == [warning]
    assert body["summary"].endswith(warning)
    # The pages say it too: the rule list, and the incident named "tenant acme".
    assert warning in admin.get(f"/p/{project.slug}/alerts/rules/").content.decode()
    page = admin.get(f"/p/{project.slug}/alerts/incidents/{Incident.objects.get().pk}/").content.decode()
    assert warning in page and 'tenant <span class="key-title">' in page

    # A rule for one tenant past the limit is told that its spend went to (other).
    late = _rule(
        admin,
        project,
        name="hooli daily",
        kind="budget",
        scope="tenant",
        scope_value="hooli",
        period="day",
        amount_usd="0.50",
    )
    assert "hooli was not among the first 2" in late["warnings"][1]
    early = _rule(
        admin,
        project,
        name="acme daily",
        kind="budget",
        scope="tenant",
        scope_value="acme",
        period="day",
        amount_usd="5",
    )
    assert early["warnings"] == ["This rule has no channel: it can fire, but it notifies nobody."]


def test_an_anomaly_rule_per_tenant_fires_for_the_tenant_that_spiked(receiver) -> None:  # noqa: ANN001
    project, admin, requests = _tenant_project("shop")
    today = _today_anchor()
    for days_ago in range(1, 8):  # a week of history: $0.05 a day each
        day = (today - timedelta(days=days_ago)).replace(hour=12, minute=0, second=0, microsecond=0)
        requests.send(day, 20_000, "acme")
        requests.send(day, 20_000, "globex", on_resource=True)
    requests.send(today, 120_000, "acme")  # $0.30: 6x its average
    requests.send(today, 24_000, "globex", on_resource=True)  # $0.06: normal
    requests.send(today, 400_000, None)  # (not set): no history, never a tenant
    _rolled_up()
    channel = _webhook(admin, project, receiver.url)
    rule = _rule(
        admin,
        project,
        name="Tenant spike",
        kind="anomaly",
        scope="tenant",
        anomaly_factor="2",
        anomaly_days=7,
        min_baseline_usd="0.01",
        min_spend_usd="0.05",
        channels=[channel],
    )
    assert rule["scope"] == "tenant"
    now = timezone.now()
    evaluate_rules(now)
    incident = Incident.objects.get()
    assert (incident.group_key, incident.level, incident.value) == ("acme", "anomaly", D("0.3"))
    assert incident.threshold == D("0.1")  # 2 x the $0.05 average
    send_pending(now)
    body = receiver.requests[0].json()
    assert body["scope"] == {"dimension": "tenant", "value": None} and body["group"] == "acme"
    assert body["summary"].startswith("Spend anomaly: tenant acme spent $0.30 today")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"kind": "budget", "amount_usd": "1", "scope": "plan"},
            "scope",
            "'plan' is not a scope of project shop: use project, user, feature, endpoint, model or one of its custom "
            "dimensions (tenant)",
        ),
        ({"kind": "budget", "amount_usd": "1", "scope": "dim:1"}, "scope", "'dim:1' is not a scope"),
        (
            {"kind": "budget", "amount_usd": "1", "scope": "tenant", "scope_value": "(other)"},
            "scope_value",
            "(other) groups the tenant values past the daily limit",
        ),
        (
            {"kind": "request_budget", "scope": "tenant", "request_metric": "cost", "request_limit": "1"},
            "scope",
            "custom dimensions such as tenant are not supported for it",
        ),
        ({"kind": "drift", "scope": "tenant", "drift_usd": "1"}, "scope", "scope must be project"),
    ],
)
def test_bad_scopes_are_refused_with_a_clear_reason_and_create_nothing(fields, field, message) -> None:  # noqa: ANN001
    project, admin, _ = _tenant_project("shop")
    response = admin.post(f"/api/v1/alerts/rules?project={project.slug}", {"name": "x", **fields}, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()[field][0]
    assert not Rule.objects.exists()


def test_another_projects_dimension_is_not_a_scope_here() -> None:
    _tenant_project("other")  # has a tenant dimension
    project, _, _ = _project("plain")
    admin = _admin_client(project)
    response = admin.post(
        f"/api/v1/alerts/rules?project={project.slug}",
        {"name": "x", "kind": "budget", "amount_usd": "1", "scope": "tenant"},
        format="json",
    )
    assert response.status_code == 400
    assert "it has none yet" in response.json()["scope"][0]
    rule = _rule(admin, project, name="users", kind="budget", amount_usd="1", scope="user")
    response = admin.patch(
        f"/api/v1/alerts/rules/{rule['id']}?project={project.slug}", {"scope": "tenant"}, format="json"
    )
    assert response.status_code == 400
    assert Rule.objects.get(pk=rule["id"]).scope == "user"


def test_a_dimension_in_use_by_a_rule_cannot_be_deleted() -> None:
    project, admin, _ = _tenant_project("shop")
    rule = _rule(admin, project, name="Per-tenant daily", kind="budget", scope="tenant", amount_usd="1")
    response = admin.delete(f"/api/v1/dimensions/tenant?project={project.slug}")
    assert response.status_code == 400
    assert "Per-tenant daily" in str(response.json()) and "change or delete them first" in str(response.json())
    assert CustomDimension.objects.filter(project=project, name="tenant").exists()
    # Once the rule watches something else, the dimension can go.
    assert (
        admin.patch(
            f"/api/v1/alerts/rules/{rule['id']}?project={project.slug}", {"scope": "user"}, format="json"
        ).status_code
        == 200
    )
    assert admin.delete(f"/api/v1/dimensions/tenant?project={project.slug}").status_code == 204
    assert not CustomDimension.objects.filter(project=project).exists()


def test_apps_ask_for_a_tenants_budget_status_by_the_dimension_name() -> None:
    project, admin, requests = _tenant_project("shop")
    at = _today_anchor()
    spent = requests.send(at, 200_000, "acme") + requests.send(at, 100_000, "acme", on_resource=True)
    requests.send(at, 900_000, "globex")
    _rolled_up()
    rule = _rule(
        admin, project, name="Per-tenant daily", kind="budget", scope="tenant", period="day", amount_usd="1.00"
    )
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {_read_key(project)}")
    body = reader.get("/api/v1/budgets/status", {"tenant": "acme", "project": project.slug}).json()
    assert body["dimensions"] == {"tenant": "acme"}
    [budget] = body["budgets"]
    assert (budget["rule"]["id"], budget["scope"], budget["group"]) == (rule["id"], "tenant", "acme")
    assert (D(budget["spend_usd"]), budget["exceeded"]) == (spent, False)
    globex = reader.get("/api/v1/budgets/status", {"tenant": "globex", "project": project.slug}).json()
    assert globex["exceeded"] is True and globex["budgets"][0]["group"] == "globex"


def _read_key(project) -> str:  # noqa: ANN001
    from costwatch.projects.services import issue_key

    return issue_key(project, "read").secret
