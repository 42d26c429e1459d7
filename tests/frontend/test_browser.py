"""A real browser (Debian's Chromium through Playwright) against a live server: what finance and on-call do.

Screenshots of the main pages, at a laptop and a phone size, are written to ``screenshots/`` at the
repository root (git-ignored; see README "Web app").
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.frontend.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser(monkeypatch) -> Iterator[object]:  # noqa: ANN001
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes between
    # browser steps are ordinary blocking calls, which Django would otherwise refuse there.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert CHROMIUM.exists(), "Chromium is missing: run `make browser` (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        # ORM calls made while Playwright's loop runs get their own connection (asgiref keys
        # connections by context there); close it, or it keeps the test database from being dropped.
        from django.db import connections

        connections.close_all()
        browser.close()


@pytest.fixture
def shop(transactional_db, people, acme):  # noqa: ANN001, ANN201
    """Three weeks of traffic, a channel, and a daily budget that today's spend has broken."""
    from alerts.incidents import evaluate_rules
    from alerts.models import Incident
    from alerts.rules import save_channel, save_rule
    from tests.frontend.demo_data import seed_weeks

    seed_weeks(acme)
    save_channel(
        acme, {"kind": "slack", "name": "#ops-alerts", "config": {"url": "https://hooks.slack.com/services/T0/B0/x"}}
    )
    save_rule(
        acme,
        {
            "name": "Daily project budget",
            "kind": "budget",
            "period": "day",
            "amount": Decimal("1.00"),
            "warn_percents": [80],
        },
        [],
    )
    save_rule(acme, {"name": "Spend spike", "kind": "anomaly", "scope": "feature"}, [])
    evaluate_rules()
    assert Incident.objects.filter(project=acme, state="firing").exists()
    return acme


def shoot(page, name: str) -> None:  # noqa: ANN001
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/p/acme/")


def test_finance_reads_the_overview_opens_a_user_and_exports_csv(live_server, browser, shop) -> None:  # noqa: ANN001
    page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url, "fin")

    assert page.get_by_role("heading", name="Month to date").is_visible()
    assert page.locator(".kpi .value").first.inner_text().startswith("$")
    assert page.evaluate("() => Chart.getChart(document.querySelector('canvas[data-chart]')) !== undefined")
    assert "Calls whose cost is unknown" in page.locator(".warning").inner_text()
    shoot(page, "overview-laptop")

    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Search users").fill("user-0")
    page.wait_for_function("() => !document.querySelector('#group-table').innerText.includes('user-1')")
    assert "user-1" not in page.locator("#group-table").inner_text()
    assert "q=user-0" in page.url  # the search is in the address, so the link can be shared
    shoot(page, "users-laptop")

    first_user = page.locator("#group-table tbody th a").first
    name = first_user.inner_text()
    first_user.click()
    page.wait_for_url("**/users/detail/**")
    assert name in page.get_by_role("heading", level=1).inner_text()
    page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")  # the splits arrive after the page
    by_model = page.locator("section", has=page.get_by_role("heading", name="By model"))
    assert by_model.locator("tbody tr").count() >= 1
    assert page.get_by_role("heading", name="Recent requests").is_visible()
    shoot(page, "user-laptop")

    page.locator("section", has=page.get_by_role("heading", name="Recent requests")).get_by_role("link").first.click()
    page.wait_for_url("**/requests/**")
    assert page.get_by_role("heading", name="LLM calls").is_visible()
    shoot(page, "request-laptop")

    page.goto(f"{live_server.url}/p/acme/pricing/?q=claude")
    shoot(page, "pricing-laptop")

    # Last: after a download, headless Chromium under Playwright stops starting navigations in that page.
    page.goto(f"{live_server.url}/p/acme/users/")
    page.get_by_label("Search users").fill("user-0")
    page.wait_for_function("() => !document.querySelector('#group-table').innerText.includes('user-1')")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("costwatch-acme-users-")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows and all(row["key"].startswith("user-0") for row in rows)
    assert all(Decimal(row["cost_usd"]) > 0 for row in rows)
    assert errors == []


def test_oncall_acknowledges_an_incident_in_the_browser(live_server, browser, shop) -> None:  # noqa: ANN001
    from alerts.models import Incident

    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, live_server.url, "oscar")
    page.get_by_role("link", name="Alerts").click()
    incident = page.locator("article.incident", has_text="Daily project budget")
    assert incident.get_by_text("critical").is_visible()
    shoot(page, "alerts-laptop")

    incident.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector(".message.success")
    assert "Acknowledged" in page.locator(".messages").inner_text()
    assert "acknowledged by oscar" in page.locator("article.incident", has_text="Daily project budget").inner_text()
    acknowledged = Incident.objects.get(project=shop, rule__name="Daily project budget", state="firing")
    assert acknowledged.acknowledged_by.username == "oscar"

    page.get_by_role("link", name="Rules").click()
    shoot(page, "rules-laptop")
    page.get_by_role("link", name="Channels").click()
    shoot(page, "channels-laptop")


def test_pages_fit_a_phone_and_work_from_the_keyboard(live_server, browser, shop) -> None:  # noqa: ANN001
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, live_server.url, "ada")
    for path, name in [
        ("/p/acme/", "overview"),
        ("/p/acme/users/", "users"),
        ("/p/acme/alerts/", "alerts"),
        ("/p/acme/settings/keys/", "keys"),
    ]:
        page.goto(live_server.url + path)
        shoot(page, f"{name}-phone")
        # Nothing but the scrollable table boxes may be wider than the screen.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], path

    page.goto(f"{live_server.url}/p/acme/settings/keys/")
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Name").focus()
    page.keyboard.type("checkout")
    page.keyboard.press("Enter")
    page.wait_for_selector("#issued-secret")
    assert page.locator("#issued-secret").input_value().startswith("cw_ingest_")
    assert os.path.exists(SCREENSHOTS / "overview-phone.png")
