"""Cost pages: overview, group tables and pages, CSV export, the request page, the empty project."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from tests.frontend.conftest import PASSWORD, TRACE_ALICE, TRACE_BOB

pytestmark = pytest.mark.django_db


def text(response) -> str:  # noqa: ANN001
    return response.content.decode()


def test_anonymous_visitor_is_sent_to_login(acme) -> None:  # noqa: ANN001
    response = Client().get("/p/acme/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/p/acme/"


def test_login_with_password_lands_on_the_first_project(people) -> None:  # noqa: ANN001
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert 'for="id_username"' in text(page) and 'for="id_password"' in text(page)
    response = client.post("/login/", {"username": "fin", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/p/acme/"
    assert response.status_code == 200


def test_wrong_password_is_refused_with_a_message(people) -> None:  # noqa: ANN001
    response = Client().post("/login/", {"username": "fin", "password": "nope"})
    assert response.status_code == 200
    assert "do not match" in text(response)


def test_logout_is_a_post(people) -> None:  # noqa: ANN001
    client = people.client("finance")
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/p/acme/").status_code == 302


def test_person_without_projects_is_told_how_to_get_one(db) -> None:  # noqa: ANN001
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_user("lonely"))
    response = client.get("/")
    assert response.status_code == 200
    assert "not a member of any project" in text(response)


def test_overview_shows_spend_forecast_top_groups_and_cache(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/")
    assert response.status_code == 200
    body = text(response)
    assert "$0.38" in body  # 0.25 + 0.125 + 0.0042 today
    assert "Forecast to month end" in body
    assert "alice@example.com" in body and "/api/search" in body and "chat" in body
    assert "Prompt-cache hit rate" in body
    assert "$0.05" in body  # saved by caching: list 0.30 - paid 0.25
    chart = response.context["chart"]
    assert {d["label"] for d in chart["datasets"]} == {"gpt-4o", "gpt-4o-mini", "acme-llm-1"}


def test_overview_warns_about_unpriced_models(people, acme_data) -> None:  # noqa: ANN001
    body = text(people.client("finance").get("/p/acme/"))
    assert "Calls whose cost is unknown" in body
    assert '<bdi class="untrusted" title="acme-llm-1">acme-llm-1</bdi></a> (1 unpriced)' in body


def test_empty_project_shows_the_exporter_settings_and_a_key_link(people) -> None:  # noqa: ANN001
    body = text(people.client("admin").get("/p/acme/"))
    assert "has no data yet" in body
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:8000/v1/traces" in body
    assert 'href="/p/acme/settings/keys/"' in body


def test_empty_project_tells_finance_to_ask_an_admin_for_a_key(people) -> None:  # noqa: ANN001
    body = text(people.client("finance").get("/p/acme/"))
    assert "Ask an admin" in body
    assert "/settings/keys/" not in body


def test_users_table_lists_spend_per_user_for_the_range(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/")
    assert response.status_code == 200
    rows = response.context["table"].rows
    assert [r.key for r in rows] == ["alice@example.com", "bob"]
    assert str(rows[0].cost_usd) == "0.375000000000"


def test_users_table_sorts_by_a_column(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/?sort=cost_usd")
    assert [r.key for r in response.context["table"].rows] == ["bob", "alice@example.com"]
    body = text(response)
    assert 'aria-sort="ascending"' in body


def test_users_table_searches_by_name(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/?q=ALI")
    assert [r.key for r in response.context["table"].rows] == ["alice@example.com"]


def test_htmx_search_returns_only_the_table(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get(
        "/p/acme/users/?q=bob", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="group-table"
    )
    body = text(response)
    assert "<html" not in body and "bob" in body and "alice" not in body


def test_a_range_with_no_spend_shows_an_empty_table(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/?start=2020-01-01&end=2020-01-31")
    assert response.context["table"].rows == []
    assert "No spend" in text(response)


def test_a_bad_range_is_explained_and_this_month_shown(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/?start=2024-05-10&end=2024-05-01")
    assert "end must be after start" in text(response)
    assert len(response.context["table"].rows) == 2


def test_finance_exports_the_users_table_as_csv(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/?format=csv&sort=key")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text(response))))
    assert [(r["key"], r["cost_usd"]) for r in rows] == [("alice@example.com", "0.375"), ("bob", "0.0042")]
    assert rows[1]["unpriced_calls"] == "1"


def test_csv_export_follows_the_search(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("admin").get("/p/acme/features/?format=csv&q=sea")
    assert [r["key"] for r in csv.DictReader(io.StringIO(text(response)))] == ["search"]


def test_oncall_cannot_export_csv_and_sees_no_export_button(people, acme_data) -> None:  # noqa: ANN001
    client = people.client("oncall")
    assert client.get("/p/acme/users/?format=csv").status_code == 403
    page = client.get("/p/acme/users/")
    assert page.status_code == 200 and "Export CSV" not in text(page)


@pytest.mark.parametrize(
    "dimension,keys",
    [
        ("features", ["chat", "search"]),
        ("endpoints", ["/api/chat", "/api/search"]),
        ("models", ["gpt-4o", "gpt-4o-mini", "acme-llm-1"]),
    ],
)
def test_features_endpoints_and_models_pages_list_their_groups(people, acme_data, dimension, keys) -> None:  # noqa: ANN001
    response = people.client("finance").get(f"/p/acme/{dimension}/")
    assert response.status_code == 200
    assert [r.key for r in response.context["table"].rows] == keys


def test_unknown_group_page_is_404(people, acme_data) -> None:  # noqa: ANN001
    assert people.client("finance").get("/p/acme/planets/").status_code == 404


def test_user_page_shows_spend_by_day_feature_model_and_recent_requests(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/detail/?key=alice@example.com")
    assert response.status_code == 200
    ctx = response.context
    assert str(ctx["total"].cost_usd) == "0.375000000000"
    assert ctx["total"].requests == 1
    client = people.client("finance")
    by = {
        heading: [(r.key, str(r.cost_usd)) for r in client.get(url).context["rows"]]
        for heading, _, url in ctx["breakdowns"]
    }
    assert by == {"Feature": [("chat", "0.375000000000")], "Model": [("gpt-4o", "0.375000000000")]}
    assert 'hx-trigger="load"' in text(response)
    assert [r.trace_id for r in ctx["recent"]] == [TRACE_ALICE]
    assert sum(ctx["chart"]["datasets"][0]["data"]) == pytest.approx(0.375)
    assert f"/p/acme/requests/{TRACE_ALICE}/" in text(response)


def test_group_breakdowns_agree_with_the_cost_api_filters(people, acme_data) -> None:  # noqa: ANN001
    from costwatch.usage.pages import breakdown_of
    from costwatch.usage.queries import cost_rows, period_of

    period = period_of(acme_data, None, None)
    groups = {
        "user": ["alice@example.com", "bob"],
        "feature": ["chat", "search"],
        "endpoint": ["/api/chat", "/api/search"],
        "model": ["gpt-4o", "gpt-4o-mini", "acme-llm-1"],
    }
    for dimension, keys in groups.items():
        for key in keys:
            for group in set(groups) - {dimension}:
                mine = {
                    (r.key, r.cost_usd, r.llm_calls, r.requests)
                    for r in breakdown_of(acme_data, dimension, key, group, period)
                }
                reference = {
                    (r.key, r.cost_usd, r.llm_calls, r.requests)
                    for r in cost_rows(acme_data, group, period, {dimension: key})
                }
                assert mine == reference, (dimension, key, group)


def test_model_page_lists_requests_that_used_the_model(people, acme_data) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/models/detail/?key=acme-llm-1")
    assert response.status_code == 200
    assert [r.trace_id for r in response.context["recent"]] == [TRACE_BOB]
    assert "could not be priced" in text(response)


def test_group_page_needs_a_key(people, acme_data) -> None:  # noqa: ANN001
    assert people.client("finance").get("/p/acme/users/detail/").status_code == 404


def test_request_page_shows_each_call_with_tokens_price_and_cost(people, acme_data) -> None:  # noqa: ANN001
    from costwatch.pricing.models import ModelPrice
    from costwatch.usage.models import LlmCall

    price = ModelPrice.objects.create(
        provider="openai", model="gpt-4o", input="2.5", output="10", cache_read="1.25", effective_from="2024-01-01"
    )
    LlmCall.objects.filter(trace_id=TRACE_ALICE).update(price=price)
    response = people.client("finance").get(f"/p/acme/requests/{TRACE_ALICE}/")
    assert response.status_code == 200
    body = text(response)
    assert len(response.context["calls"]) == 2
    assert "$0.25" in body and "$0.125" in body
    assert "in $2.5 · out $10 · cache read $1.25" in body
    assert "1,000" in body and "400" in body


def test_request_page_marks_unpriced_calls(people, acme_data) -> None:  # noqa: ANN001
    body = text(people.client("finance").get(f"/p/acme/requests/{TRACE_BOB}/"))
    assert "unpriced" in body and "acme-llm-1" in body


def test_unknown_request_is_404(people, acme_data) -> None:  # noqa: ANN001
    assert people.client("finance").get("/p/acme/requests/" + "f" * 32 + "/").status_code == 404


def test_project_switcher_lists_only_my_projects_and_switches(people, acme, globex) -> None:  # noqa: ANN001
    from costwatch.projects.services import set_member

    set_member(globex, people.finance, "finance")
    client = people.client("finance")
    page = client.get("/p/acme/")
    assert [p.slug for p in page.context["switchable_projects"]] == ["acme", "globex"]
    assert client.get("/switch/?project=globex")["Location"] == "/p/globex/"
    assert people.client("oncall").get("/switch/?project=globex").status_code == 404


def test_static_files_are_served_locally(people, acme_data, client) -> None:  # noqa: ANN001
    body = text(people.client("finance").get("/p/acme/"))
    assert "/static/frontend/vendor/chartjs/chart.umd.min.js" in body
    assert "/static/frontend/vendor/htmx/htmx.min.js" in body
    assert "https://" not in body.split("</head>")[0]


def test_users_table_pages_in_the_asked_order(people, acme_data, monkeypatch) -> None:  # noqa: ANN001
    from frontend import services

    monkeypatch.setattr(services, "PAGE_SIZE", 1)
    client = people.client("finance")
    first = client.get("/p/acme/users/?sort=-cost_usd").context["table"]
    second = client.get("/p/acme/users/?sort=-cost_usd&page=2").context["table"]
    assert ([r.key for r in first.rows], [r.key for r in second.rows]) == (["alice@example.com"], ["bob"])
    assert (first.pages, second.page) == (2, 2)
    searched = client.get("/p/acme/users/?q=o&sort=key&page=2").context["table"]
    assert [r.key for r in searched.rows] == ["bob"] and searched.total_rows == 2


def test_breakdown_fragment_needs_a_key_and_another_dimension(people, acme_data) -> None:  # noqa: ANN001
    client = people.client("finance")
    assert client.get("/p/acme/users/detail/breakdown/?key=bob&by=user").status_code == 404
    assert client.get("/p/acme/users/detail/breakdown/?by=model").status_code == 404
    response = client.get("/p/acme/models/detail/breakdown/?key=gpt-4o&by=user")
    assert [r.key for r in response.context["rows"]] == ["alice@example.com"]
    assert "<html" not in response.content.decode()


def test_breakdowns_count_calls_whose_own_feature_differs_from_their_requests(acme) -> None:  # noqa: ANN001
    from decimal import Decimal

    from costwatch.usage.models import LlmCall, SpanAttribution
    from costwatch.usage.pages import breakdown_of
    from costwatch.usage.queries import cost_rows, period_of
    from costwatch.usage.rollups import rebuild_project
    from tests.frontend.conftest import earlier_today
    from tests.usage.factories import make_call, make_root

    at = earlier_today(acme)
    LlmCall.objects.bulk_create(
        [
            make_call(acme, trace="c1", at=at, user="u1", feature="chat", cost=Decimal("1"), parent="00000000000000c1"),
            make_call(
                acme,
                trace="c1",
                at=at,
                user="u1",
                feature="search",
                model="gpt-4o-mini",
                cost=Decimal("2"),
                parent="00000000000000c1",
            ),
            make_call(
                acme, trace="c1", at=at, user="u1", cost=Decimal("4"), endpoint="/own", parent="00000000000000c1"
            ),
            make_call(
                acme, trace="c2", at=at, user="u2", cost=Decimal("8"), endpoint="/own", parent="00000000000000c2"
            ),
        ]
    )
    SpanAttribution.objects.bulk_create(
        [
            make_root(acme, trace="c1", feature="search", route="/api/x", span="00000000000000c1"),
            make_root(acme, trace="c2", name="GET /", span="00000000000000c2"),
        ]
    )
    rebuild_project(acme.pk)
    period = period_of(acme, None, None)
    for dimension, key in [
        ("feature", "search"),
        ("feature", "chat"),
        ("endpoint", "/api/x"),
        ("endpoint", "/own"),
        ("model", "gpt-4o"),
    ]:
        for group in {"user", "model", "feature"} - {dimension}:
            mine = {(r.key, r.cost_usd) for r in breakdown_of(acme, dimension, key, group, period)}
            assert mine == {(r.key, r.cost_usd) for r in cost_rows(acme, group, period, {dimension: key})}
    assert {(r.key, r.cost_usd) for r in breakdown_of(acme, "feature", "search", "model", period)} == {
        ("gpt-4o-mini", Decimal("2")),
        ("gpt-4o", Decimal("4")),
    }
