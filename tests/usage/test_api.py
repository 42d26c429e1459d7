from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from costwatch.projects.models import Role
from costwatch.projects.services import set_member
from costwatch.usage.models import LlmCall, SpanAttribution
from costwatch.usage.rollups import recompute_dirty
from costwatch.usage.services import mark_traces_dirty
from tests.usage.factories import make_call, make_root

pytestmark = pytest.mark.django_db


def _store(project, calls, roots=()) -> None:  # noqa: ANN001
    LlmCall.objects.bulk_create(calls)
    SpanAttribution.objects.bulk_create(roots)
    mark_traces_dirty(project, {c.trace_id for c in calls})
    recompute_dirty()


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def acme_data(acme):  # noqa: ANN001, ANN201
    t = datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc)
    _store(
        acme,
        [
            make_call(
                acme,
                trace="a1",
                at=t,
                user="alice",
                feature="chat",
                cost=Decimal("0.30"),
                tokens=1000,
                cache_read=500,
                parent="00000000000000a1",
            ),
            make_call(
                acme, trace="a1", at=t, user="alice", feature="chat", cost=Decimal("0.20"), parent="00000000000000a1"
            ),
            make_call(acme, trace="b1", at=t, user="bob", feature="search", cost=Decimal("0.05"), model="gpt-4o-mini"),
            make_call(acme, trace="c1", at=t, user='=HYPERLINK("x")', cost=Decimal("0.01")),
            make_call(acme, trace="d1", at=t, user="carol", model="homegrown-llm", cost=None),
        ],
        [make_root(acme, trace="a1", route="/chat", span="00000000000000a1")],
    )
    return acme


def test_costs_group_by_user_gives_exact_decimal_strings(acme_data, acme_read_key) -> None:
    response = _client(acme_read_key).get(
        "/api/v1/costs", {"group_by": "user", "start": "2026-11-01", "end": "2026-11-30"}
    )
    assert response.status_code == 200, response.content
    rows = {r["key"]: r for r in response.json()["results"]}
    assert rows["alice"]["cost_usd"] == "0.5"
    assert rows["alice"]["llm_calls"] == 2 and rows["alice"]["requests"] == 1
    assert rows["alice"]["prompt_cache_hit_rate"] == round(500 / 1600, 4)
    assert rows["bob"]["cost_usd"] == "0.05"
    assert rows["carol"]["cost_usd"] is None and rows["carol"]["unpriced_calls"] == 1  # unknown, never $0
    assert rows["carol"]["cost_complete"] is False and rows["alice"]["cost_complete"] is True
    assert [r["key"] for r in response.json()["results"]][0] == "alice"  # ordered by -cost_usd
    counts = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "llm_calls", "requests")
    assert all(type(rows["alice"][name]) is int for name in counts), rows["alice"]
    raw_path = (
        _client(acme_read_key)
        .get("/api/v1/costs", {"group_by": "user", "feature": "chat", "start": "2026-11-01", "end": "2026-11-30"})
        .json()
    )
    assert all(type(raw_path["results"][0][name]) is int for name in counts), raw_path["results"][0]


def test_filters_cut_across_dimensions(acme_data, acme_read_key) -> None:
    response = _client(acme_read_key).get(
        "/api/v1/costs", {"group_by": "model", "user": "bob", "start": "2026-11-01", "end": "2026-11-30"}
    )
    assert [(r["key"], r["cost_usd"]) for r in response.json()["results"]] == [("gpt-4o-mini", "0.05")]
    response = _client(acme_read_key).get(
        "/api/v1/costs", {"group_by": "endpoint", "start": "2026-11-01", "end": "2026-11-30"}
    )
    assert {r["key"]: r["cost_usd"] for r in response.json()["results"]}["/chat"] == "0.5"


def test_filtered_and_rollup_paths_agree(acme_data, acme_read_key) -> None:
    client = _client(acme_read_key)
    period = {"start": "2026-11-01", "end": "2026-11-30"}
    from_rollups = client.get("/api/v1/costs", {"group_by": "feature", **period}).json()["results"]
    from_raw = client.get("/api/v1/costs", {"group_by": "feature", "provider": "openai", **period}).json()["results"]
    assert from_rollups == from_raw


def test_csv_export_neutralises_formulas(acme_data, acme_read_key) -> None:
    response = _client(acme_read_key).get(
        "/api/v1/costs", {"group_by": "user", "format": "csv", "start": "2026-11-01", "end": "2026-11-30"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["key"] for r in rows} == {"alice", "bob", "carol", '\'=HYPERLINK("x")'}
    assert next(r for r in rows if r["key"] == "alice")["cost_usd"] == "0.5"


def test_pagination(acme_data, acme_read_key) -> None:
    body = (
        _client(acme_read_key)
        .get(
            "/api/v1/costs", {"group_by": "user", "page_size": 2, "page": 2, "start": "2026-11-01", "end": "2026-11-30"}
        )
        .json()
    )
    assert body["count"] == 4 and len(body["results"]) == 2 and body["previous"] == 1 and body["next"] is None


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"group_by": "planet"}, "group_by"),
        ({"group_by": "user", "start": "yesterday"}, "not a date"),
        ({"group_by": "user", "start": "2026-11-10", "end": "2026-11-01"}, "after start"),
        ({"group_by": "user", "ordering": "password"}, "ordering"),
        ({"group_by": "user", "page_size": "0"}, "page_size"),
    ],
)
def test_bad_parameters_get_400_with_a_message(acme_data, acme_read_key, params, needle) -> None:
    response = _client(acme_read_key).get("/api/v1/costs", params)
    assert response.status_code == 400
    assert needle in response.content.decode()


def test_keys_and_people_only_see_their_own_project(acme_data, globex, globex_read_key, acme_ingest_key) -> None:
    period = {"group_by": "user", "start": "2026-11-01", "end": "2026-11-30"}
    assert _client(globex_read_key).get("/api/v1/costs", period).json()["results"] == []
    assert _client(globex_read_key).get("/api/v1/costs", {**period, "project": "acme"}).status_code == 403
    assert _client(acme_ingest_key).get("/api/v1/costs", period).status_code == 401
    assert APIClient().get("/api/v1/costs", period).status_code in (401, 403)
    person = get_user_model().objects.create_user("gina", password="pw-long-enough")
    set_member(globex, person, Role.ADMIN)
    client = APIClient()
    client.force_login(person)
    assert client.get("/api/v1/costs", {**period, "project": "acme"}).status_code == 403
    trace = LlmCall.objects.filter(project=acme_data).first().trace_id
    assert _client(globex_read_key).get(f"/api/v1/requests/{trace}").status_code == 404


def test_oncall_reads_costs_but_only_finance_exports(acme_data) -> None:
    period = {"group_by": "user", "start": "2026-11-01", "end": "2026-11-30"}
    for role, csv_status in ((Role.ONCALL, 403), (Role.FINANCE, 200)):
        person = get_user_model().objects.create_user(f"p-{role}", password="pw-long-enough")
        set_member(acme_data, person, role)
        client = APIClient()
        client.force_login(person)
        assert client.get("/api/v1/costs", {**period, "project": "acme"}).status_code == 200
        assert client.get("/api/v1/costs", {**period, "project": "acme", "format": "csv"}).status_code == csv_status


def test_days_follow_the_project_timezone_across_dst(acme, acme_read_key) -> None:
    # Europe/Berlin leaves summer time on 2026-10-25 at 01:00 UTC.
    _store(
        acme,
        [
            make_call(
                acme, trace="x1", at=datetime(2026, 10, 24, 22, 30, tzinfo=timezone.utc), cost=Decimal("1")
            ),  # 25th 00:30 CEST
            make_call(
                acme, trace="x2", at=datetime(2026, 10, 25, 22, 30, tzinfo=timezone.utc), cost=Decimal("2")
            ),  # 25th 23:30 CET
            make_call(
                acme, trace="x3", at=datetime(2026, 10, 25, 23, 30, tzinfo=timezone.utc), cost=Decimal("4")
            ),  # 26th 00:30 CET
        ],
    )
    client = _client(acme_read_key)
    days = client.get("/api/v1/costs", {"group_by": "day", "start": "2026-10-24", "end": "2026-10-26"}).json()
    assert [(r["key"], r["cost_usd"]) for r in days["results"]] == [("2026-10-25", "3"), ("2026-10-26", "4")]
    one_day = client.get("/api/v1/costs", {"group_by": "user", "start": "2026-10-25", "end": "2026-10-25"}).json()
    assert one_day["start"] == "2026-10-24T22:00:00+00:00" and one_day["end"] == "2026-10-25T23:00:00+00:00"
    assert one_day["results"][0]["cost_usd"] == "3"


def test_user_and_request_drill_down(acme_data, acme_read_key) -> None:
    client = _client(acme_read_key)
    user = client.get("/api/v1/users/alice", {"start": "2026-11-01", "end": "2026-11-30"}).json()
    assert user["cost_usd"] == "0.5"
    assert [r["key"] for r in user["by_feature"]] == ["chat"]
    assert user["recent_requests"][0]["endpoint"] == "/chat"
    trace = user["recent_requests"][0]["trace_id"]
    request = client.get(f"/api/v1/requests/{trace}").json()
    assert len(request["calls"]) == 2
    assert sorted(c["cost_usd"] for c in request["calls"]) == ["0.2", "0.3"]


def test_summary_forecasts_the_month_at_its_pace(acme, acme_read_key) -> None:
    from costwatch.usage.queries import summary_of

    _store(
        acme,
        [
            make_call(acme, trace="s1", at=datetime(2026, 11, 3, 12, tzinfo=timezone.utc), cost=Decimal("10")),
            make_call(acme, trace="s2", at=datetime(2026, 10, 3, 12, tzinfo=timezone.utc), cost=Decimal("6")),
        ],
    )
    # 2026-11-16 00:00 in Berlin = half of November elapsed.
    summary = summary_of(acme, now=datetime(2026, 11, 15, 23, 0, tzinfo=timezone.utc))
    assert summary.month_to_date == Decimal("10")
    assert summary.forecast_month_end == Decimal("20")
    assert summary.previous_month == Decimal("6") and summary.previous_month_to_date == Decimal("6")
    assert summary.today == Decimal("0")
    assert _client(acme_read_key).get("/api/v1/summary").status_code == 200


def test_openapi_schema_and_docs_are_served(client) -> None:  # noqa: ANN001
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/costs" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_a_runaway_cost_query_is_cancelled_with_a_clear_503(acme_data, acme_read_key, settings) -> None:
    settings.COSTWATCH_QUERY_TIMEOUT_MS = 100
    from django.db import connection

    with connection.cursor() as cursor:
        # A real slow statement: make the raw-call scan sleep via a volatile filter function.
        cursor.execute(
            "CREATE OR REPLACE FUNCTION pg_temp.slow_user(t text) RETURNS text AS "
            "$$ SELECT pg_sleep(0.2)::text || t $$ LANGUAGE sql VOLATILE"
        )
    from costwatch.usage import queries

    original = queries.EFFECTIVE_COLUMN["user"]
    queries.EFFECTIVE_COLUMN["user"] = "pg_temp.slow_user(e_user)"
    try:
        response = _client(acme_read_key).get(
            "/api/v1/costs", {"group_by": "user", "feature": "chat", "start": "2026-11-01", "end": "2026-11-30"}
        )
    finally:
        queries.EFFECTIVE_COLUMN["user"] = original
    assert response.status_code == 503
    assert "narrow the period" in response.json()["detail"]
    assert response["Retry-After"] == "30"
