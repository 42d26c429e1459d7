"""The Savings page in a real browser: ranked findings with their charts drawn from a static script,
approving an alternative makes the what-if count, and the page fits a phone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.frontend.test_browser import LAPTOP, PHONE, browser, shoot, sign_in  # noqa: F401 - fixture
from tests.savings.traffic import GPT4O, MINI, cost, request_spans, send, store_prices

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def advised_shop(transactional_db, people, acme):  # noqa: ANN001, ANN201
    from costwatch.projects.services import issue_key
    from costwatch.usage.rollups import recompute_dirty

    store_prices()
    base = (datetime.now(timezone.utc) - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    spans = []
    for i in range(40):  # gpt-4o for short answers
        spans += request_spans(
            base + timedelta(minutes=10 * i),
            feature="classify",
            model="gpt-4o",
            input_tokens=500 + 25 * i,
            output_tokens=5,
        )
    for t in range(10):  # a chat resending its whole history
        spans += request_spans(
            base + timedelta(hours=8, seconds=30 * t),
            feature="chat",
            model="gpt-4o-mini",
            input_tokens=1000 + 500 * t,
            output_tokens=100,
            conversation="c-1",
        )
    for i in range(100):  # a long output tail
        out = 3000 if i == 99 else 1500 if i == 98 else 100
        spans += request_spans(
            base + timedelta(hours=10, minutes=5 * i),
            feature="extract",
            model="gpt-4o-mini",
            input_tokens=300 + (i % 7) * 100,
            output_tokens=out,
        )
    send(issue_key(acme, "ingest").secret, spans)
    recompute_dirty()
    return acme


def test_admin_reads_the_savings_page_and_approves_an_alternative(live_server, browser, advised_shop) -> None:  # noqa: ANN001, F811
    page = browser.new_page(viewport=LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url, "ada")
    page.get_by_role("link", name="Savings").click()
    page.wait_for_url(re.compile(r"/p/acme/savings/$"))
    page.wait_for_function("document.querySelectorAll('canvas[data-savings-chart][data-drawn]').length === 3")

    cards = page.locator("section.savings-card")
    kinds = [cards.nth(i).get_attribute("data-kind") for i in range(cards.count())]
    # Counted estimates first (largest first), the unapproved what-if last.
    assert kinds[-1] == "model_whatif" and set(kinds) == {
        "model_whatif",
        "conversation_context",
        "output_caps",
        "outliers",
    }
    whatif = page.locator("#model_whatif\\:feature\\:classify")
    assert "what-if" in whatif.inner_text() and "not counted" in whatif.inner_text()
    for chart_id in (
        "model_whatif:feature:classify",
        "conversation_context:feature:chat",
        "output_caps:feature:extract",
    ):
        box = page.locator(f"[id='{chart_id}'] canvas").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('canvas[data-savings-chart]')).map(c => Chart.getChart(c).config.type)"
    )
    assert sorted(drawn) == ["bar", "bar", "line"]  # cost per model, output histogram, context growth
    # No inline script (a CSP forbids them): every <script> has a src or carries JSON data.
    inline = page.evaluate("Array.from(document.scripts).filter(s => !s.src && s.type !== 'application/json').length")
    assert inline == 0
    before = page.get_by_test_id("savings-total").inner_text()
    whatif.locator("summary").click()
    assert "openai/gpt-4o-mini" in whatif.locator("table").inner_text()
    shoot(page, "savings-laptop")

    page.get_by_label("Feature", exact=True).fill("classify")
    page.get_by_label("Model (provider/model)").fill("openai/gpt-4o-mini")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/p/acme/savings/$"))
    assert "approved for classify" in page.locator(".messages").inner_text()
    saving = sum(cost(GPT4O, 500 + 25 * i, 5) - cost(MINI, 500 + 25 * i, 5) for i in range(40))
    whatif = page.locator("#model_whatif\\:feature\\:classify")
    assert f"${saving.quantize(Decimal('0.01'))}" in whatif.inner_text()
    after = page.get_by_test_id("savings-total").inner_text()
    assert after != before
    assert not errors, errors

    phone = browser.new_page(viewport=PHONE)
    sign_in(phone, live_server.url, "fin")
    phone.goto(f"{live_server.url}/p/acme/savings/?kind=output_caps")
    assert phone.locator("section.savings-card").count() == 1
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert phone.get_by_role("button", name="Approve").count() == 0  # finance may read, not approve
    shoot(phone, "savings-phone")
