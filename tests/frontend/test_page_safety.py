"""Pages against hostile span text and the Content-Security-Policy: Django's test client and Chromium."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from costwatch.security import CONTENT_SECURITY_POLICY
from tests.frontend.conftest import TRACE_ALICE, earlier_today
from tests.frontend.test_browser import LAPTOP, browser, sign_in  # noqa: F401 - fixture used below

LONG_MODEL = "ft:gpt-4o-mini-2024-07-18:" + "very-long-organisation-name-" * 6 + "final"
RLO_USER = "\u202eevil"  # shows as "live" when the override is obeyed

PAGES = [
    "/p/acme/",
    "/p/acme/users/",
    "/p/acme/features/",
    "/p/acme/endpoints/",
    "/p/acme/models/",
    f"/p/acme/users/detail/?key={RLO_USER}",
    f"/p/acme/requests/{TRACE_ALICE}/",
    "/p/acme/alerts/",
    "/p/acme/alerts/rules/",
    "/p/acme/alerts/channels/",
    "/p/acme/alerts/history/",
    "/p/acme/pricing/",
    "/p/acme/settings/keys/",
    "/p/acme/settings/members/",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle=", re.I)


@pytest.fixture
def hostile(acme):  # noqa: ANN001, ANN201
    from costwatch.usage.models import LlmCall
    from costwatch.usage.rollups import rebuild_project
    from tests.frontend.conftest import seed_acme
    from tests.usage.factories import make_call

    seed_acme(acme)
    at = earlier_today(acme)
    LlmCall.objects.bulk_create(
        [
            make_call(
                acme,
                trace="c1" * 16,
                at=at,
                user=RLO_USER,
                feature="chat",
                cost=Decimal("0.5"),
                span="c100000000000001",
            ),
            make_call(
                acme, trace="c2" * 16, at=at, user="bob", model=LONG_MODEL, cost=Decimal("0.7"), span="c200000000000001"
            ),
        ]
    )
    rebuild_project(acme.pk)
    return acme


def test_every_page_carries_the_csp_and_has_no_inline_script_or_style(hostile, people) -> None:  # noqa: ANN001
    from django.test import Client

    client, anonymous = people.client("admin"), Client()
    for path in [*PAGES, "/login/", "/api/docs/", "/admin/login/"]:
        who = anonymous if path in ("/login/", "/admin/login/") else client
        response = who.get(path)
        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        if path.startswith("/admin"):
            continue  # Django's own admin: header checked, markup is Django's
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html))
        assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html))
        assert not STYLE_ATTRIBUTE.search(html), (path, STYLE_ATTRIBUTE.search(html))
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY


def test_span_text_is_isolated_with_controls_shown(hostile, people) -> None:  # noqa: ANN001
    html = people.client("finance").get("/p/acme/users/").content.decode()
    assert RLO_USER not in html
    assert (
        '<bdi class="untrusted" title="&lt;U+202E&gt;evil"><span class="ctrl">&lt;U+202E&gt;</span>evil</bdi>' in html
    )
    models = people.client("finance").get("/p/acme/models/").content.decode()
    assert f'title="{LONG_MODEL}"' in models  # the full name on hover
    assert LONG_MODEL[:119] + "…" in models


def test_chromium_shows_the_override_and_the_long_model_fits_a_laptop(live_server, browser, hostile, people) -> None:  # noqa: ANN001, F811
    page = browser.new_page(viewport=LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url, "fin")
    for path in ["/p/acme/", "/p/acme/users/", "/p/acme/models/", f"/p/acme/users/detail/?key={RLO_USER}"]:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= LAPTOP["width"], (path, width)
    page.goto(live_server.url + "/p/acme/users/")
    shown = page.locator("bdi.untrusted", has_text="evil").first.inner_text()
    assert shown == "<U+202E>evil"
    assert errors == [], errors  # a CSP violation is a console error in Chromium
