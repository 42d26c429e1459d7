"""The Bills page in a real browser: the billed-vs-estimated chart draws, the page fits a phone."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.frontend.test_browser import LAPTOP, PHONE, browser, shoot, sign_in  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def billed_shop(transactional_db, people, acme):  # noqa: ANN001, ANN201
    """Three weeks of openai calls, and an OpenAI bill that is 3 % above them except on one day."""
    from costwatch.billing import services
    from tests.frontend.demo_data import seed_weeks

    seed_weeks(acme)
    today = timezone.now().date()
    rows = services.reconcile(acme, today - timedelta(days=20), today - timedelta(days=1), providers=["openai"])
    lines = ["start_time_iso,amount_value,amount_currency,line_item"]
    for i, row in enumerate(rows):
        factor = Decimal("1.6") if i == len(rows) - 4 else Decimal("1.03")
        billed = ((row.estimate.cost_usd or Decimal(0)) * factor).quantize(Decimal("0.000001"))
        lines.append(f'{row.day}T00:00:00+00:00,{billed},usd,"gpt-4o, output"')
    services.import_csv(acme, "openai", "\n".join(lines) + "\n", filename="openai-costs.csv")
    return acme


def test_finance_reads_the_bills_page(live_server, browser, billed_shop) -> None:  # noqa: ANN001, F811
    page = browser.new_page(viewport=LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url, "fin")

    page.get_by_role("link", name="Bills").click()
    page.wait_for_url("**/reconciliation/")
    assert page.get_by_role("heading", name="Billed vs. estimated per day").is_visible()
    assert page.evaluate("() => Chart.getChart(document.querySelector('canvas[data-chart]')).data.datasets.length") == 2
    table = page.get_by_role("region", name="Reconciliation per day and provider").inner_text()
    assert re.search(r"\t37\.(49|50|51) %\t", table), table  # the day billed 1.6x: (1.6 - 1) / 1.6 = 37.5 %
    assert re.search(r"\t2\.9[01] %\t", table), table  # the others 1.03x: 0.03 / 1.03
    assert "partial" in table  # days with unpriced calls (in-house-llm) say their estimate is partial
    shoot(page, "bills-laptop")

    phone = browser.new_page(viewport=PHONE)
    sign_in(phone, live_server.url, "fin")
    phone.goto(f"{live_server.url}/p/acme/reconciliation/")
    assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    shoot(phone, "bills-phone")
    assert errors == []
