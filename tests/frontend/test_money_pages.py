"""Finance pages: one money format per column, totals rows, exact values on hover and in CSV,
the prompt-token split, and "no spend recorded" instead of a $0 page."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_costs(acme):  # noqa: ANN001, ANN201
    """Three users today: $0.0106, $0.003458 (with cache reads) and an unpriced one."""
    from costwatch.usage.models import LlmCall
    from costwatch.usage.rollups import rebuild_project
    from tests.frontend.conftest import earlier_today
    from tests.usage.factories import make_call

    at = earlier_today(acme)
    LlmCall.objects.bulk_create(
        [
            make_call(
                acme, trace="c1" * 16, at=at, user="carol", cost=Decimal("0.0106"), tokens=1000, span="c000000000000001"
            ),
            make_call(
                acme,
                trace="d1" * 16,
                at=at,
                user="dave",
                cost=Decimal("0.003458"),
                tokens=8644 - 1815,
                cache_read=1815,
                span="d000000000000001",
            ),
            make_call(
                acme,
                trace="e1" * 16,
                at=at,
                user="erin",
                model="in-house",
                cost=None,
                tokens=50,
                span="e000000000000001",
            ),
        ]
    )
    rebuild_project(acme.pk)


def cells(html: str, css_class: str) -> list[tuple[str, str]]:
    return re.findall(rf'<td class="num {css_class}" title="([^"]*)">([^<]*)</td>', html)


def test_a_money_column_has_one_format_exact_hover_and_a_totals_row(people, acme, mixed_costs) -> None:  # noqa: ANN001
    html = people.client("finance").get("/p/acme/users/?sort=key").content.decode()
    body, foot = html.split("<tfoot>")
    assert cells(body, "cost")[:2] == [("$0.0106", "$0.0106"), ("$0.003458", "$0.0035")]
    erin = body[body.index(">erin<") :]
    assert 'title="1 unpriced calls">unpriced</span>' in erin[:300]
    assert ("unpriced", "unpriced") in cells(body, "cost")  # erin: no call priced, never $0.00
    assert (
        '<td class="num cost" title="$0.014058">$0.0141 <span class="split not-priced">+ 1 not priced</span></td>'
        in foot
    )
    assert "Total, all users" in foot


def test_prompt_tokens_include_the_cache_with_the_split_visible(people, acme, mixed_costs) -> None:  # noqa: ANN001
    html = people.client("finance").get("/p/acme/users/?sort=key").content.decode()
    assert "8,644" in html and "1,815 from cache" in html


def test_csv_has_the_cost_breakdown_every_token_column_and_exact_values(people, acme, mixed_costs) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/?sort=key&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {
        "cost_input_usd",
        "cost_output_usd",
        "cost_cache_read_usd",
        "cost_cache_write_usd",
        "prompt_tokens",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
    } <= set(rows[0])
    by_user = {r["key"]: r for r in rows}
    assert by_user["dave"]["cost_usd"] == "0.003458"
    assert by_user["dave"]["prompt_tokens"] == "8644" and by_user["dave"]["cache_read_tokens"] == "1815"
    assert by_user["erin"]["unpriced_calls"] == "1"  # its cost reads "unpriced" once the cost layer says null


def test_a_user_without_spend_in_the_period_is_no_spend_recorded(people, acme, mixed_costs) -> None:  # noqa: ANN001
    response = people.client("finance").get("/p/acme/users/detail/?key=nobody")
    assert response.status_code == 404
    assert "No spend recorded" in response.content.decode()
    assert "$0.00" not in response.content.decode()
    assert people.client("finance").get("/p/acme/users/detail/?key=dave").status_code == 200


def test_the_request_page_shows_one_cost_format_and_its_total(people, acme, mixed_costs) -> None:  # noqa: ANN001
    html = people.client("finance").get(f"/p/acme/requests/{'d1' * 16}/").content.decode()
    assert cells(html, "cost") == [("$0.003458", "$0.0035"), ("$0.003458", "$0.0035")]
    assert "8,644 prompt tokens, 1,815 from cache" in html
