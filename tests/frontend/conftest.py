"""People with each role in the two tenants, and a month of priced calls for acme (rolled up)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

PASSWORD = "correct horse battery staple"
TRACE_ALICE = "a1" * 16
TRACE_BOB = "b0" * 16


@dataclass
class People:
    admin: object
    finance: object
    oncall: object
    outsider: object  # admin of globex only

    def client(self, who: str) -> Client:
        client = Client()
        client.force_login(getattr(self, who))
        return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:  # noqa: ANN001
    # PBKDF2's deliberate slowness buys nothing in tests and costs a second per fixture.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(acme, globex):  # noqa: ANN001, ANN201
    from django.contrib.auth import get_user_model

    from costwatch.projects.services import set_member

    users = get_user_model()
    made = {}
    for name, project, role in [
        ("ada", acme, "admin"),
        ("fin", acme, "finance"),
        ("oscar", acme, "oncall"),
        ("gus", globex, "admin"),
    ]:
        made[name] = users.objects.create_user(username=name, password=PASSWORD)
        set_member(project, made[name], role)
    return People(made["ada"], made["fin"], made["oscar"], made["gus"])


def earlier_today(project) -> datetime:  # noqa: ANN001
    """A moment today (project time) before now: data that "today" and "this month" both include."""
    now = timezone.now().astimezone(project.tz)
    start = datetime.combine(now.date(), time.min, tzinfo=project.tz)
    return start + (now - start) / 2


def seed_acme(project) -> None:  # noqa: ANN001
    """Two users' requests today: alice chats with gpt-4o (one call hit the prompt cache), bob searches
    with an unpriced in-house model; then the rollups are rebuilt."""
    from costwatch.usage.models import LlmCall, SpanAttribution
    from costwatch.usage.rollups import rebuild_project
    from tests.usage.factories import make_call, make_root

    at = earlier_today(project)
    calls = [
        make_call(
            project,
            trace=TRACE_ALICE,
            at=at,
            user="alice@example.com",
            feature="chat",
            cost=Decimal("0.25"),
            tokens=1000,
            cache_read=400,
            list_cost=Decimal("0.30"),
            span="a000000000000001",
            parent="a0000000000000ff",
        ),
        make_call(
            project,
            trace=TRACE_ALICE,
            at=at + timedelta(seconds=2),
            user="alice@example.com",
            feature="chat",
            cost=Decimal("0.125"),
            tokens=500,
            span="a000000000000002",
            parent="a0000000000000ff",
        ),
        make_call(
            project,
            trace=TRACE_BOB,
            at=at,
            user="bob",
            feature="search",
            model="acme-llm-1",
            cost=None,
            tokens=300,
            span="b000000000000001",
            parent="b0000000000000ff",
        ),
        make_call(
            project,
            trace=TRACE_BOB,
            at=at,
            user="bob",
            feature="search",
            model="gpt-4o-mini",
            cost=Decimal("0.0042"),
            tokens=200,
            span="b000000000000002",
            parent="b0000000000000ff",
        ),
    ]
    LlmCall.objects.bulk_create(calls)
    SpanAttribution.objects.bulk_create(
        [
            make_root(project, trace=TRACE_ALICE, route="/api/chat", user="alice@example.com", span="a0000000000000ff"),
            make_root(project, trace=TRACE_BOB, route="/api/search", user="bob", span="b0000000000000ff"),
        ]
    )
    rebuild_project(project.pk)


@pytest.fixture
def acme_data(acme):  # noqa: ANN001, ANN201
    seed_acme(acme)
    return acme
