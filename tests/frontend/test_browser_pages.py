"""Finance and on-call pages in Debian's Chromium, at a laptop and a phone width.

Money columns keep one format with the exact value on hover, every table has its totals row, chart
axes have unique money labels, the cost column stays in view on a phone; the rule form shows only
the chosen kind's fields from a static script, marks what is required and warns about a rule that
notifies nobody; the firing list flags a failed notification; times read in the project's zone.
"""

from __future__ import annotations

import re

import pytest

from tests.frontend.test_browser import LAPTOP, PHONE, browser, shoot, shop, sign_in  # noqa: F401 - fixtures

WIDTHS = {"laptop": LAPTOP, "phone": PHONE}


def new_page(browser, size: str):  # noqa: ANN001, ANN201, F811
    page = browser.new_page(viewport=WIDTHS[size], is_mobile=size == "phone", has_touch=size == "phone")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return page, errors


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_finance_tables_keep_one_money_format_totals_and_the_cost_in_view(live_server, browser, shop, size) -> None:  # noqa: ANN001, F811
    page, errors = new_page(browser, size)
    sign_in(page, live_server.url, "fin")
    page.goto(f"{live_server.url}/p/acme/users/")
    costs = page.locator("table.cost-table td.cost")
    texts = costs.all_inner_texts()
    assert len(texts) > 3
    # The amount's decimals ("$7.01", also "$7.01 + 18 not priced" where some calls have no known cost).
    decimals = {len(m.group(1)) for t in texts if (m := re.match(r"\$[0-9,]+\.([0-9]+)", t))}
    assert len(decimals) == 1, texts  # one format for the whole column, totals included
    assert page.locator("table.cost-table tfoot tr.totals").is_visible()
    first = costs.first
    assert re.fullmatch(r"\$[0-9.]+", first.get_attribute("title"))  # the exact amount on hover
    shoot(page, f"users-money-{size}")
    if size == "phone":
        page.locator(".table-scroll").first.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
        box = first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box

    page.goto(f"{live_server.url}/p/acme/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('canvas'))")
    labels = page.evaluate("() => Chart.getChart(document.querySelector('canvas')).scales.y.ticks.map(t => t.label)")
    assert len(labels) == len(set(labels)) > 2 and all(label.startswith("$") for label in labels), labels
    assert page.locator(".grid-2 table.cost-table tfoot").first.is_visible()
    assert not errors


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_the_rule_form_shows_the_chosen_kinds_fields_and_warns_about_no_channel(
    live_server, browser, shop, size
) -> None:  # noqa: ANN001, F811
    from alerts.models import Rule

    page, errors = new_page(browser, size)
    sign_in(page, live_server.url, "oscar")
    page.goto(f"{live_server.url}/p/acme/alerts/rules/new/")
    # No inline script on the page: the form's behaviour comes from a static file (a CSP forbids inline code).
    assert page.evaluate("() => [...document.scripts].filter(s => !s.src && s.type !== 'application/json').length") == 0
    budget, anomaly = page.locator("fieldset[data-kind=budget]"), page.locator("fieldset[data-kind=anomaly]")
    page.get_by_label("Kind").select_option("budget")
    assert budget.is_visible() and not anomaly.is_visible()
    assert "(required)" in budget.locator("label[for=id_amount_usd]").inner_text()
    page.get_by_label("Kind").select_option("anomaly")
    assert anomaly.is_visible() and not budget.is_visible()
    shoot(page, f"rule-form-{size}")

    page.get_by_label("Name").fill("Quiet spike")
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_selector(".message.warning")
    assert "notifies nobody" in page.locator(".message.warning").inner_text()
    assert "notifies nobody" in page.locator("tr", has_text="Quiet spike").inner_text()
    rule = Rule.objects.get(project=shop, name="Quiet spike")
    assert rule.kind == "anomaly" and rule.amount is None
    assert not errors


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_the_firing_list_flags_a_failed_notification_in_the_projects_time(live_server, browser, shop, size) -> None:  # noqa: ANN001, F811
    from django.utils import timezone

    from alerts.models import Channel, Delivery, Incident

    incident = Incident.objects.filter(project=shop, state="firing").first()
    channel = Channel.objects.get(project=shop)
    Delivery.objects.create(
        project=shop,
        incident=incident,
        channel=channel,
        event="firing",
        payload={},
        status="failed",
        attempts=8,
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
        last_error="HTTP 500 from hooks.slack.com: internal_error",
    )
    page, errors = new_page(browser, size)
    sign_in(page, live_server.url, "oscar")
    page.goto(f"{live_server.url}/p/acme/alerts/")
    article = page.locator(f"#incident-{incident.pk}")
    flag = article.locator(".delivery-failed")
    assert flag.is_visible()
    assert "notification failed" in flag.inner_text() and "HTTP 500 from hooks.slack.com" in flag.inner_text()
    since = article.locator("time").last
    assert re.search(r"\b(CET|CEST)\b", since.inner_text()), since.inner_text()  # acme runs on Europe/Berlin
    assert re.search(r"ago|just now", since.inner_text()) and since.get_attribute("datetime").endswith("+00:00")
    shoot(page, f"alerts-failed-delivery-{size}")
    assert not errors
