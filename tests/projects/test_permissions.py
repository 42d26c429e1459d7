import pytest
from django.contrib.auth import get_user_model

from costwatch.projects.models import Role
from costwatch.projects.permissions import Action, can
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
