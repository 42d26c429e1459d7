"""Custom dimension pages: Settings → Dimensions, a cost table and group pages per dimension, the A/B
comparison. Spans go in through /v1/traces and the real rollups (helpers of tests/usage/test_dimensions.py);
the pages are read with Django's test client as each role."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from costwatch.usage.models import CustomDimension
from tests.frontend.test_page_safety import INLINE_HANDLER, INLINE_SCRIPT, STYLE_ATTRIBUTE
from tests.usage.test_accounting import _post
from tests.usage.test_dimensions import (  # noqa: F401 - prices: the gpt-4o price, autouse
    IN,
    OUT,
    Traffic,
    _export,
    _rolled_up,
    _span,
    prices,
)

pytestmark = pytest.mark.django_db
UTC = timezone.utc
D = Decimal
NOVEMBER = "start=2026-11-01&end=2026-11-30"


def text(response) -> str:  # noqa: ANN001
    return response.content.decode()


def _dimension(project, name: str, keys: list[str], limit: int | None = None) -> CustomDimension:  # noqa: ANN001
    """A dimension saved as the Settings page saves it, then backfilled as the worker does."""
    from costwatch.usage.dimensions import backfill_dimension, save_dimension

    dimension = save_dimension(project, name=name, attribute_keys=keys, max_values_per_day=limit)
    backfill_dimension(dimension.pk)
    return dimension


@pytest.fixture
def traffic(acme, acme_ingest_key) -> Traffic:  # noqa: ANN001
    """Tenants (on resources and root spans) and variants of 24 requests on 2026-11-20, rolled up."""
    _dimension(acme, "tenant", ["app.tenant", "tenant.id"])
    _dimension(acme, "variant", ["app.variant"])
    sent = Traffic(7, datetime(2026, 11, 20, 9, tzinfo=UTC))
    for body in sent.exports:
        _post(acme_ingest_key, body)
    _rolled_up()
    return sent


def _unpriced_span(trace: str, span: str, at: datetime, **kwargs: object) -> dict:
    """A chat call of a model no price covers: its cost is unknown."""
    body = _span(trace, span, at, **kwargs)
    for attribute in body["attributes"]:
        if attribute["key"] == "gen_ai.request.model":
            attribute["value"] = {"stringValue": "in-house-llm"}
    return body


# --- Settings → Dimensions -------------------------------------------------------------------------


def test_finance_sees_the_dimensions_but_cannot_add_one(people, acme) -> None:  # noqa: ANN001
    _dimension(acme, "tenant", ["app.tenant", "tenant.id"], limit=50)
    client = people.client("finance")
    page = client.get("/p/acme/settings/dimensions/")
    assert page.status_code == 200
    body = text(page)
    assert "<code>app.tenant</code>" in body and "<code>tenant.id</code>" in body and "50 values" in body
    assert "Add a dimension" not in body and "Only an admin" in body
    assert 'href="/p/acme/dimensions/tenant/"' in body
    refused = client.post("/p/acme/settings/dimensions/", {"name": "plan", "attribute_keys": "app.plan"})
    assert refused.status_code == 403
    assert client.get("/p/acme/settings/dimensions/tenant/").status_code == 403
    assert client.post("/p/acme/settings/dimensions/tenant/delete/").status_code == 403
    assert list(CustomDimension.objects.filter(project=acme).values_list("name", flat=True)) == ["tenant"]


def test_admin_adds_a_dimension_and_its_backfill_shows_pending_then_done(people, acme, settings) -> None:  # noqa: ANN001
    from costwatch.usage.dimensions import backfill_dimension

    client = people.client("admin")
    page = client.get("/p/acme/settings/dimensions/")
    assert "Add a dimension" in text(page) and 'name="csrfmiddlewaretoken"' in text(page)
    response = client.post(
        "/p/acme/settings/dimensions/",
        {"name": "tenant", "attribute_keys": "app.tenant\ntenant.id, org.id", "max_values_per_day": ""},
    )
    assert response.status_code == 302 and response["Location"] == "/p/acme/settings/dimensions/"
    dimension = CustomDimension.objects.get(project=acme)
    assert dimension.attribute_keys == ["app.tenant", "tenant.id", "org.id"]
    assert dimension.max_values_per_day == settings.COSTWATCH_DIMENSION_MAX_VALUES_PER_DAY
    listed = client.get("/p/acme/settings/dimensions/")
    assert "Dimension tenant added" in text(listed)
    row = listed.context["dimensions"][0]
    assert (row["name"], row["backfill_pending"]) == ("tenant", True)
    assert ">pending<" in text(listed)
    backfill_dimension(dimension.pk)  # what the worker runs
    listed = client.get("/p/acme/settings/dimensions/")
    assert listed.context["dimensions"][0]["backfill_pending"] is False and ">done<" in text(listed)
    # The navigation links the new dimension's page and the comparison.
    assert 'href="/p/acme/dimensions/tenant/"' in text(listed) and 'href="/p/acme/compare/"' in text(listed)


def test_admin_changes_the_keys_and_the_limit(people, acme) -> None:  # noqa: ANN001
    dimension = _dimension(acme, "tenant", ["app.tenant"])
    client = people.client("admin")
    form = client.get("/p/acme/settings/dimensions/tenant/")
    assert form.status_code == 200 and "app.tenant</textarea>" in text(form)
    response = client.post(
        "/p/acme/settings/dimensions/tenant/",
        {"attribute_keys": "org.id\napp.tenant", "max_values_per_day": "25"},
        follow=True,
    )
    assert "its new keys are backfilled" in text(response) and "25 values a day" in text(response)
    dimension.refresh_from_db()
    assert (dimension.attribute_keys, dimension.max_values_per_day) == (["org.id", "app.tenant"], 25)
    assert dimension.backfill_requested_at > dimension.backfilled_at  # a new backfill is waiting


@pytest.mark.parametrize(
    "fields,field,message",
    [
        ({"name": "Tenant", "attribute_keys": "app.tenant"}, "name", "lower-case letters"),
        ({"name": "user", "attribute_keys": "app.user"}, "name", "built-in group"),
        ({"name": "tenant", "attribute_keys": "app.tenant"}, "name", "already has a dimension named"),
        ({"name": "", "attribute_keys": "app.plan"}, "name", "lower-case letters"),
        ({"name": "plan", "attribute_keys": " \n , "}, "attribute_keys", "at least one"),
        ({"name": "plan", "attribute_keys": "app.plan\napp.plan"}, "attribute_keys", "listed twice"),
        (
            {"name": "plan", "attribute_keys": "app.plan", "max_values_per_day": "0"},
            "max_values_per_day",
            "from 1 to 1,000,000",
        ),
        (
            {"name": "plan", "attribute_keys": "app.plan", "max_values_per_day": "many"},
            "max_values_per_day",
            "whole number",
        ),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_changes_nothing(people, acme, fields, field, message) -> None:  # noqa: ANN001
    _dimension(acme, "tenant", ["app.tenant"])
    before = list(
        CustomDimension.objects.filter(project=acme).values_list("name", "attribute_keys", "max_values_per_day")
    )
    response = people.client("admin").post("/p/acme/settings/dimensions/", fields)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in errors[field][0], errors
    # Shown inside the field's own block, the typed values kept.
    body = text(response)
    block = body[body.index(f'for="id_{field}"') :]
    assert message in block[: block.index("</div>")]
    assert 'class="field invalid"' in body
    if fields["name"]:
        assert f'value="{fields["name"]}"' in body
    after = list(
        CustomDimension.objects.filter(project=acme).values_list("name", "attribute_keys", "max_values_per_day")
    )
    assert after == before


def test_bad_edits_change_nothing(people, acme) -> None:  # noqa: ANN001
    dimension = _dimension(acme, "tenant", ["app.tenant"], limit=10)
    client = people.client("admin")
    for fields, field in [
        ({"attribute_keys": "", "max_values_per_day": "10"}, "attribute_keys"),
        ({"attribute_keys": "app.tenant", "max_values_per_day": "-3"}, "max_values_per_day"),
    ]:
        response = client.post("/p/acme/settings/dimensions/tenant/", fields)
        assert response.status_code == 400 and list(response.context["form"].errors) == [field]
    dimension.refresh_from_db()
    assert (dimension.attribute_keys, dimension.max_values_per_day) == (["app.tenant"], 10)
    assert client.get("/p/acme/settings/dimensions/nope/").status_code == 404


def test_delete_is_refused_with_the_rules_named_while_alert_rules_use_the_dimension(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Rule

    dimension = _dimension(acme, "tenant", ["app.tenant"])
    rule = Rule.objects.create(
        project=acme, name="Tenant budget", kind="budget", scope=dimension.rollup_dimension, amount=D(10)
    )
    client = people.client("admin")
    listed = text(client.get("/p/acme/settings/dimensions/"))
    assert "used by alert rule Tenant budget" in listed
    refused = client.post("/p/acme/settings/dimensions/tenant/delete/")
    assert refused.status_code == 400
    assert "tenant is not deleted: alert rule(s) Tenant budget are scoped by tenant" in text(refused)
    assert CustomDimension.objects.filter(pk=dimension.pk).exists()
    rule.delete()
    deleted = client.post("/p/acme/settings/dimensions/tenant/delete/", follow=True)
    assert "Dimension tenant and its rollups are deleted" in text(deleted)
    assert not CustomDimension.objects.filter(project=acme).exists()
    assert client.get("/p/acme/settings/dimensions/tenant/delete/").status_code == 405


# --- A dimension's cost pages ----------------------------------------------------------------------


def test_the_dimension_table_shows_each_values_totals_from_the_ingested_spans(people, traffic) -> None:  # noqa: ANN001
    response = people.client("finance").get(f"/p/acme/dimensions/tenant/?{NOVEMBER}")
    assert response.status_code == 200
    table = response.context["table"]
    expected = traffic.values("tenant")
    assert {row.key for row in table.rows} == set(expected)
    for row in table.rows:
        want = expected[row.key]
        assert (row.cost_usd, row.llm_calls, row.requests, row.errors) == (
            want["cost"],
            want["calls"],
            want["requests"],
            want["errors"],
        ), row.key
        assert (row.input_tokens, row.output_tokens, row.cost_complete) == (want["input"], want["output"], True)
    assert [row.key for row in table.rows] == sorted(expected, key=lambda k: -expected[k]["cost"])  # by spend
    totals = response.context["totals"]
    assert totals.cost_usd == sum(w["cost"] for w in expected.values())
    assert totals.llm_calls == sum(w["calls"] for w in expected.values())
    body = text(response)
    assert "<h1>Tenant <span" in body and "custom dimension" in body
    assert "<code>app.tenant</code>, <code>tenant.id</code>" in body
    assert f'href="/p/acme/compare/?dimension=tenant&amp;{NOVEMBER.replace("&", "&amp;")}"' in body
    assert 'href="/p/acme/dimensions/tenant/detail/?key=acme&amp;' in body
    assert 'href="/p/acme/dimensions/tenant/" aria-current="page">Tenant</a>' in body  # its tab
    assert 'href="/p/acme/dimensions/variant/">Variant</a>' in body
    # Sorting, search and paging work as on the other group pages.
    ascending = people.client("finance").get(f"/p/acme/dimensions/tenant/?{NOVEMBER}&sort=key")
    assert [row.key for row in ascending.context["table"].rows] == sorted(expected)
    searched = people.client("finance").get(f"/p/acme/dimensions/tenant/?{NOVEMBER}&q=GLO")
    assert [row.key for row in searched.context["table"].rows] == ["globex"]
    fragment = people.client("finance").get(
        f"/p/acme/dimensions/tenant/?{NOVEMBER}&q=ini", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="group-table"
    )
    assert (
        "<html" not in text(fragment)
        and "initech" in text(fragment)
        and "acme" not in text(fragment).split("<table")[1].split("</table>")[0].replace("/p/acme/", "")
    )


def test_a_values_page_shows_its_days_splits_and_requests(people, traffic) -> None:  # noqa: ANN001
    client = people.client("finance")
    want = traffic.values("tenant")["acme"]
    response = client.get(f"/p/acme/dimensions/tenant/detail/?key=acme&{NOVEMBER}")
    assert response.status_code == 200
    ctx = response.context
    assert (ctx["total"].cost_usd, ctx["total"].llm_calls, ctx["total"].requests) == (
        want["cost"],
        want["calls"],
        want["requests"],
    )
    assert sum(ctx["chart"]["datasets"][0]["data"]) == pytest.approx(float(want["cost"]))
    assert len(ctx["recent"]) == want["requests"]
    assert sum(r.llm_calls for r in ctx["recent"]) == want["calls"]
    splits = {heading: url for heading, _, url in ctx["breakdowns"]}
    assert list(splits) == ["Feature", "Model", "User", "Variant"]
    by_variant = client.get(splits["Variant"])
    assert by_variant.status_code == 200 and "<html" not in text(by_variant)
    assert sum(row.cost_usd for row in by_variant.context["rows"]) == want["cost"]
    assert {row.key for row in by_variant.context["rows"]} <= {"A", "B"}
    assert 'href="/p/acme/dimensions/variant/detail/?key=A&amp;' in text(by_variant)
    by_model = client.get(splits["Model"])
    assert [(row.key, row.cost_usd) for row in by_model.context["rows"]] == [("gpt-4o", want["cost"])]
    assert client.get("/p/acme/dimensions/tenant/detail/breakdown/?key=acme&by=tenant").status_code == 404
    # A value without spend in the range, a missing key, an unknown dimension.
    assert client.get(f"/p/acme/dimensions/tenant/detail/?key=umbrella&{NOVEMBER}").status_code == 404
    assert client.get("/p/acme/dimensions/tenant/detail/").status_code == 404
    assert client.get("/p/acme/dimensions/plan/").status_code == 404


def test_calls_without_a_value_read_not_set(people, traffic, acme_ingest_key) -> None:  # noqa: ANN001
    at = datetime(2026, 11, 21, 8, tzinfo=UTC)
    _post(acme_ingest_key, _export([({"service.name": "batch"}, [_span("f" * 32, "f" * 16, at, chat=(2000, 10))])]))
    _rolled_up()
    client = people.client("finance")
    rows = {row.key: row for row in client.get(f"/p/acme/dimensions/tenant/?{NOVEMBER}").context["table"].rows}
    assert rows[""].cost_usd == 2000 * IN + 10 * OUT
    body = text(client.get(f"/p/acme/dimensions/tenant/?{NOVEMBER}"))
    assert 'href="/p/acme/dimensions/tenant/detail/?key=&amp;start=2026-11-01&amp;end=2026-11-30">(not set)</a>' in body
    page = client.get(f"/p/acme/dimensions/tenant/detail/?key=&{NOVEMBER}")
    assert page.status_code == 200 and page.context["total"].llm_calls == 1
    assert '<span class="key-title">(not set)</span>' in text(page)
    assert 'name="key" value=""' in text(page)  # the date form keeps the empty key
    assert [r.trace_id for r in page.context["recent"]] == ["f" * 32]


def test_unknown_cost_stays_visibly_unknown_on_the_dimension_pages(people, acme, acme_ingest_key) -> None:  # noqa: ANN001
    _dimension(acme, "tenant", ["app.tenant"])
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    _post(
        acme_ingest_key,
        _export([({"app.tenant": "umbrella"}, [_unpriced_span("e" * 32, "e" * 16, at, chat=(1000, 10))])]),
    )
    _rolled_up()
    client = people.client("finance")
    listed = text(client.get(f"/p/acme/dimensions/tenant/?{NOVEMBER}"))
    row = listed[listed.index(">umbrella</bdi>") :]
    cost = row[row.index('<td class="num cost"') :]
    assert cost[: cost.index("</td>")].endswith(">unpriced")
    page = client.get(f"/p/acme/dimensions/tenant/detail/?key=umbrella&{NOVEMBER}")
    assert page.context["total"].known_cost_usd is None
    assert "could not be priced" in text(page)
    exported = list(csv.DictReader(io.StringIO(text(client.get(f"/p/acme/dimensions/tenant/?{NOVEMBER}&format=csv")))))
    assert [(r["key"], r["cost_usd"], r["cost_complete"]) for r in exported] == [("umbrella", "unpriced", "False")]


def test_values_past_the_daily_limit_are_other_with_a_warning_banner(people, acme, acme_ingest_key) -> None:  # noqa: ANN001
    _dimension(acme, "tenant", ["app.tenant"], limit=2)
    start = datetime(2026, 11, 22, 8, tzinfo=UTC)
    spans = [
        _span(
            f"{i + 1:032x}",
            f"{i + 1:016x}",
            start + timedelta(minutes=i),
            chat=(1000, 10),
            attrs={"app.tenant": f"t{i}"},
        )
        for i in range(5)
    ]
    random.Random(2).shuffle(spans)
    _post(acme_ingest_key, _export([({}, spans)]))
    _rolled_up()
    client = people.client("finance")
    response = client.get(f"/p/acme/dimensions/tenant/?{NOVEMBER}")
    rows = {row.key: row.llm_calls for row in response.context["table"].rows}
    assert rows == {"t0": 1, "t1": 1, "(other)": 3}
    body = text(response)
    assert '<div class="warning" role="alert">' in body
    assert "tenant had more than 2 distinct values on 2026-11-22" in body
    assert "past the daily limit" in body
    # The warning follows the range: a week without overflow has none.
    quiet = client.get("/p/acme/dimensions/tenant/?start=2026-11-01&end=2026-11-07")
    assert quiet.context["warnings"] == [] and "had more than" not in text(quiet)
    # On the (other) page, in the CSV (header) and in Settings too.
    other = client.get(f"/p/acme/dimensions/tenant/detail/?key=(other)&{NOVEMBER}")
    assert other.context["total"].llm_calls == 3 and "had more than 2 distinct values" in text(other)
    exported = client.get(f"/p/acme/dimensions/tenant/?{NOVEMBER}&format=csv")
    assert "2026-11-22" in exported["X-Costwatch-Warning"]
    assert {r["key"] for r in csv.DictReader(io.StringIO(text(exported)))} == {"t0", "t1", "(other)"}
    settings_page = client.get("/p/acme/settings/dimensions/")
    assert settings_page.context["dimensions"][0]["overflow_days_last_30"] == [datetime(2026, 11, 22).date()]
    assert "2026-11-22" in text(settings_page)


def test_finance_exports_a_dimension_as_csv_and_oncall_may_not(people, traffic) -> None:  # noqa: ANN001
    response = people.client("finance").get(f"/p/acme/dimensions/variant/?{NOVEMBER}&format=csv&sort=key")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="costwatch-acme-variant-20261101-20261130.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text(response))))
    expected = traffic.values("variant")
    assert [r["key"] for r in rows] == sorted(expected)
    for row in rows:
        assert D(row["cost_usd"]) == expected[row["key"]]["cost"]
        assert int(row["llm_calls"]) == expected[row["key"]]["calls"]
    assert "X-Costwatch-Warning" not in response
    oncall = people.client("oncall")
    assert oncall.get(f"/p/acme/dimensions/variant/?{NOVEMBER}&format=csv").status_code == 403
    assert "Export CSV" not in text(oncall.get(f"/p/acme/dimensions/variant/?{NOVEMBER}"))


# --- The comparison --------------------------------------------------------------------------------


@pytest.fixture
def ab(acme, acme_ingest_key):  # noqa: ANN001, ANN201
    """Feature "answer": variant A has 2 requests of one call each (1000 in / 100 out, one failed);
    variant B 1 request with two calls (400 in / 50 out), plus, in feature "other", a request with a
    call of an unpriced model."""
    _dimension(acme, "variant", ["app.variant"])
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    plan = [
        ("A", "answer", [(1000, 100, False, True)]),
        ("A", "answer", [(1000, 100, True, True)]),
        ("B", "answer", [(400, 50, False, True), (400, 50, False, True)]),
        ("B", "other", [(300, 30, False, False)]),
    ]
    spans = []
    for i, (variant, feature, calls) in enumerate(plan):
        trace, root = f"{i + 1:032x}", f"{i + 1:016x}"
        spans.append(
            _span(
                trace,
                root,
                start + timedelta(minutes=i),
                kind=2,
                name="POST /x",
                attrs={"app.variant": variant, "costwatch.feature": feature, "http.route": "/x"},
            )
        )
        for j, (tokens, out, error, priced) in enumerate(calls):
            make = _span if priced else _unpriced_span
            spans.append(
                make(
                    trace,
                    f"{i + 1:08x}{j + 1:08x}",
                    start + timedelta(minutes=i, seconds=j),
                    parent=root,
                    chat=(tokens, out),
                    error=error,
                )
            )
    random.Random(1).shuffle(spans)
    _post(acme_ingest_key, _export([({}, spans[:4])]))
    _post(acme_ingest_key, _export([({}, spans[4:])]))
    _rolled_up()
    return acme


def _cells(body: str, label: str) -> list[str]:
    """The A, B and difference cells of one comparison line, as text."""
    import re

    row = body[body.index(f'<th scope="row" class="key">{label}<') :]
    row = row[: row.index("</tr>")]
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_comparison_shows_per_request_figures_side_by_side(people, ab) -> None:  # noqa: ANN001
    client = people.client("finance")
    response = client.get("/p/acme/compare/?dimension=variant&a=A&b=B&feature=answer&start=2026-11-23&end=2026-11-23")
    assert response.status_code == 200
    body = text(response)
    a_cost, b_cost = 1000 * IN + 100 * OUT, 2 * (400 * IN + 50 * OUT)
    assert _cells(body, "Cost per request") == ["$0.0035", "$0.0030", "-14%"]
    assert (a_cost, b_cost) == (D("0.0035"), D("0.003"))
    assert _cells(body, "Prompt tokens per request") == ["1,000", "800", "-20%"]
    assert _cells(body, "Output tokens per request") == ["100", "100", "±0%"]
    assert _cells(body, "LLM calls per request") == ["1", "2", "+100%"]
    assert _cells(body, "Prompt-cache hit rate") == ["0.0%", "0.0%", "±0 pp"]
    assert _cells(body, "Response-cache hit rate") == ["0.0%", "0.0%", "±0 pp"]
    assert _cells(body, "Error rate") == ["50.0%", "0.0%", "-50.0 pp"]
    assert _cells(body, "Requests") == ["2", "1", "-50%"]
    assert _cells(body, "LLM calls") == ["2", "2", "±0%"]
    assert _cells(body, "Every call priced") == ["yes", "yes", "—"]
    assert response.context["result"].a.cost_usd == 2 * a_cost
    # The pickers show what is compared; each value's page is linked.
    assert '<option value="answer" selected>answer</option>' in body
    assert '<option value="A" selected>A</option>' in body and '<option value="B" selected>B</option>' in body
    assert 'href="/p/acme/dimensions/variant/detail/?key=B&amp;start=2026-11-23&amp;end=2026-11-23"' in body
    chart = response.context["chart"]
    assert chart["datasets"][0]["data"] == [pytest.approx(float(a_cost))]


def test_a_cost_per_request_with_an_unpriced_call_is_unknown_not_zero(people, ab) -> None:  # noqa: ANN001
    response = people.client("finance").get(
        "/p/acme/compare/?dimension=variant&a=A&b=B&start=2026-11-23&end=2026-11-23"
    )
    body = text(response)
    assert _cells(body, "Cost per request") == ["$0.0035", "unknown: 1 of 3 calls not priced", "—"]
    assert _cells(body, "Requests") == ["2", "2", "±0%"]
    assert _cells(body, "Every call priced") == ["yes", "no: 1 of 3 calls not priced", "—"]
    # The priced calls' cost with the unpriced one beside it: 2 × (400 in / 50 out) on B.
    assert _cells(body, "Cost") == ["$0.0070", "$0.0030 + 1 not priced", "—"]
    assert response.context["chart"]["datasets"][1]["data"] == [None]  # a gap, not $0


def test_the_comparison_defaults_explains_bad_picks_and_needs_a_dimension(people, acme, ab) -> None:  # noqa: ANN001
    client = people.client("finance")
    default = client.get("/p/acme/compare/?start=2026-11-23&end=2026-11-23")
    assert default.status_code == 200 and (default.context["a"], default.context["b"]) == ("A", "B")
    same = client.get("/p/acme/compare/?dimension=variant&a=A&b=A&start=2026-11-23&end=2026-11-23")
    assert same.status_code == 400 and "pick two different ones" in text(same) and "result" not in same.context
    one = client.get("/p/acme/compare/?dimension=variant&a=A")
    assert one.status_code == 400 and "Choose two values" in text(one)
    unknown = client.get("/p/acme/compare/?dimension=plan&start=2026-11-23&end=2026-11-23")
    assert unknown.status_code == 400 and "no dimension named “plan”" in text(unknown)
    # Switching the dimension in the picker drops the other dimension's values.
    _dimension(acme, "tenant", ["app.tenant"])
    switched = client.get("/p/acme/compare/?was=variant&dimension=tenant&a=A&b=B&start=2026-11-23&end=2026-11-23")
    assert switched.status_code == 200 and switched.context["a"] is None and "result" not in switched.context
    CustomDimension.objects.filter(project=acme).delete()
    none = client.get("/p/acme/compare/")
    assert none.status_code == 200 and "No custom dimensions yet" in text(none)


# --- Roles, tenancy and page safety ----------------------------------------------------------------

PAGES = {  # page -> roles that may open it
    f"/p/acme/dimensions/tenant/?{NOVEMBER}": {"admin", "finance", "oncall"},
    f"/p/acme/dimensions/tenant/?{NOVEMBER}&format=csv": {"admin", "finance"},
    f"/p/acme/dimensions/tenant/detail/?key=acme&{NOVEMBER}": {"admin", "finance", "oncall"},
    f"/p/acme/dimensions/tenant/detail/breakdown/?key=acme&by=model&{NOVEMBER}": {"admin", "finance", "oncall"},
    f"/p/acme/compare/?dimension=variant&a=A&b=B&{NOVEMBER}": {"admin", "finance", "oncall"},
    "/p/acme/settings/dimensions/": {"admin", "finance", "oncall"},
    "/p/acme/settings/dimensions/tenant/": {"admin"},
}


@pytest.mark.parametrize("who", ["admin", "finance", "oncall", "outsider"])
def test_each_dimension_page_opens_for_the_roles_that_may(people, traffic, who) -> None:  # noqa: ANN001
    client = people.client(who)
    outcome = {url: client.get(url).status_code for url in PAGES}
    if who == "outsider":  # admin of globex: acme's pages do not exist for them
        assert outcome == dict.fromkeys(PAGES, 404)
        assert client.post("/p/acme/settings/dimensions/", {"name": "x", "attribute_keys": "y"}).status_code == 404
    else:
        assert outcome == {url: 200 if who in roles else 403 for url, roles in PAGES.items()}


def test_dimension_pages_carry_no_inline_script_or_style(people, traffic) -> None:  # noqa: ANN001
    client = people.client("admin")
    for url in [*PAGES, "/p/acme/dimensions/variant/detail/?key=A&" + NOVEMBER]:
        html = text(client.get(url))
        if "format=csv" in url:
            continue
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_HANDLER.search(html), url
        assert not STYLE_ATTRIBUTE.search(html), url


def test_many_dimensions_share_one_tab_with_subtabs(people, acme, settings) -> None:  # noqa: ANN001
    for name in ["env", "plan", "region", "tenant", "variant"]:
        _dimension(acme, name, [f"app.{name}"])
    client = people.client("finance")
    overview = text(client.get("/p/acme/settings/dimensions/"))
    assert 'href="/p/acme/dimensions/">Dimensions</a>' in overview and ">Variant</a>" not in overview
    assert client.get("/p/acme/dimensions/")["Location"] == "/p/acme/dimensions/env/"
    page = text(client.get("/p/acme/dimensions/plan/"))
    assert '<nav class="subtabs" aria-label="Dimensions">' in page
    assert 'href="/p/acme/dimensions/plan/" aria-current="page">Plan</a>' in page
