"""Custom dimensions in Debian's Chromium: an admin adds one in Settings, traffic arrives through
/v1/traces and is rolled up, the dimension's page shows it, and the A/B comparison opens from there."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from costwatch.money import format_usd_exact
from tests.frontend.test_browser import LAPTOP, PHONE, browser, shoot, sign_in  # noqa: F401 - fixtures
from tests.processes import celery, process_env
from tests.usage.test_accounting import _post
from tests.usage.test_dimensions import Traffic, prices  # noqa: F401 - prices: autouse


@pytest.mark.process
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_an_admin_adds_a_dimension_sees_its_page_and_compares_two_values(  # noqa: PLR0915
    live_server, browser, transactional_db, people, acme, acme_ingest_key, tmp_path, size
) -> None:  # noqa: ANN001, F811
    from costwatch.usage.models import CustomDimension, DirtyBucket, DirtyTrace, RollupHour

    viewport = LAPTOP if size == "laptop" else PHONE
    page = browser.new_page(viewport=viewport, is_mobile=size == "phone", has_touch=size == "phone")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url, "ada")

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Dimensions", exact=True).click()
    page.wait_for_url(f"{live_server.url}/p/acme/settings/dimensions/")
    # A bad name is explained next to its field and nothing is added.
    page.get_by_label("Name").fill("Variant")
    page.get_by_label("Attribute keys").fill("app.variant")
    page.get_by_role("button", name="Add dimension").click()
    assert "lower-case letters" in page.locator(".field.invalid").inner_text()
    assert not CustomDimension.objects.filter(project=acme).exists()
    page.get_by_label("Name").fill("variant")
    page.get_by_role("button", name="Add dimension").click()
    page.wait_for_selector(".message.success")
    row = page.locator("#dimension-variant")
    assert "pending" in row.inner_text() and "app.variant" in row.inner_text()
    dimension = CustomDimension.objects.get(project=acme, name="variant")
    assert dimension.backfilled_at is None  # queued for the worker, which is not running yet

    # Traffic of the last hours through the front door; then a real worker and beat take the queued
    # backfill and roll the hours up.
    traffic = Traffic(3, timezone.now() - timedelta(hours=4), requests=12)
    for body in traffic.exports:
        _post(acme_ingest_key, body)
    env = process_env(tmp_path, COSTWATCH_ROLLUP_INTERVAL_SECONDS="1", COSTWATCH_HEARTBEAT_SECONDS="3600")
    with celery("worker", env, tmp_path / "worker.log"), celery("beat", env, tmp_path / "beat.log"):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            CustomDimension.objects.filter(pk=dimension.pk, backfilled_at__isnull=False).exists()
            and RollupHour.objects.filter(project=acme, dimension=dimension.rollup_dimension).exists()
            and not DirtyBucket.objects.filter(project=acme).exists()
            and not DirtyTrace.objects.filter(project=acme).exists()
        ):
            time.sleep(0.5)
    assert not DirtyBucket.objects.filter(project=acme).exists(), (tmp_path / "worker.log").read_text()[-2000:]
    page.reload()
    assert "done" in page.locator("#dimension-variant").inner_text()
    shoot(page, f"dimensions-settings-{size}")

    page.get_by_role("link", name="Variant", exact=True).click()
    page.get_by_role("link", name="Last 30 days").click()
    page.wait_for_url(re.compile(r".*/p/acme/dimensions/variant/\?preset=30d"))
    expected = traffic.values("variant")
    rows = page.locator("#group-table tbody tr")
    assert rows.count() == len(expected)
    shown = {
        rows.nth(i).locator("th").inner_text().strip(): rows.nth(i).locator("td.cost").inner_text()
        for i in range(rows.count())
    }
    assert set(shown) == set(expected)
    for value, cost in shown.items():
        assert re.fullmatch(r"\$[0-9.,]+", cost), cost
        exact = rows.filter(has_text=value).locator("td.cost").get_attribute("title")
        assert exact == f"${expected[value]['cost'].normalize():f}", (value, exact)
    shoot(page, f"dimension-table-{size}")
    page.get_by_role("link", name="A", exact=True).click()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]'))")
    page.wait_for_function("() => !document.querySelector('.grid-2 [aria-busy]')")  # the splits loaded
    assert page.locator(".grid-2 table.cost-table").count() == 3  # by feature, model and user
    shoot(page, f"dimension-value-{size}")
    page.go_back()

    page.get_by_role("link", name="Compare two variant values").click()
    page.wait_for_selector("table.compare-table")
    assert page.locator("#compare-a").input_value() == "A" and page.locator("#compare-b").input_value() == "B"
    cells = page.locator("table.compare-table tr", has_text="Cost per request").locator("td")
    for i, side in enumerate("AB"):
        want = format_usd_exact(expected[side]["cost"] / expected[side]["requests"])
        assert cells.nth(i).locator("span").get_attribute("title") == want, side  # the exact amount on hover
        assert re.fullmatch(r"\$0\.[0-9]+", cells.nth(i).inner_text()), cells.nth(i).inner_text()
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]'))")
    shoot(page, f"dimension-compare-{size}")
    # Pick B against itself: the page says why there is nothing to compare.
    page.locator("#compare-a").select_option("B")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_selector("p.error")
    assert "pick two different ones" in page.locator("p.error").inner_text()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"], width
    # The two refused forms answer 400, which Chromium logs; anything else (a CSP violation) fails.
    refused = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert errors == [refused, refused], errors
