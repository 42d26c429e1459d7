"""Settings (keys, members) and pricing pages, with the roles that may and may not use them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db


def test_admin_creates_a_key_that_is_shown_once_and_works(people, acme) -> None:  # noqa: ANN001
    from costwatch.projects.models import ApiKey
    from costwatch.projects.services import authenticate_key

    client = people.client("admin")
    response = client.post("/p/acme/settings/keys/", {"name": "checkout", "scope": "ingest"})
    assert response.status_code == 302 and response["Location"] == "/p/acme/settings/keys/"
    shown = client.get("/p/acme/settings/keys/")
    assert shown.status_code == 200
    assert shown["Cache-Control"] == "no-store"
    secret = re.search(r'value="(cw_ingest_[^"]+)"', shown.content.decode()).group(1)
    key = authenticate_key(secret, "ingest")
    assert key is not None and key.project == acme and key.name == "checkout" and key.created_by == people.admin
    assert secret not in ApiKey.objects.get().key_hash
    assert secret not in client.get("/p/acme/settings/keys/").content.decode()


def test_reloading_after_creating_a_key_creates_no_other_key(people, acme) -> None:  # noqa: ANN001
    from costwatch.projects.models import ApiKey

    client = people.client("admin")
    response = client.post("/p/acme/settings/keys/", {"name": "checkout", "scope": "read"}, follow=True)
    assert response.redirect_chain == [("/p/acme/settings/keys/", 302)]
    # A reload repeats the last request: the GET of the redirect target, never the POST.
    for _ in range(3):
        assert client.get(response.request["PATH_INFO"]).status_code == 200
    assert ApiKey.objects.filter(project=acme, revoked_at__isnull=True).count() == 1


def test_a_new_secret_is_not_shown_on_another_projects_page(people, acme, globex) -> None:  # noqa: ANN001
    from costwatch.projects.services import set_member

    set_member(globex, people.admin, "admin")
    client = people.client("admin")
    client.post("/p/acme/settings/keys/", {"scope": "read"})
    assert "cw_read_" not in client.get("/p/globex/settings/keys/").content.decode()


def test_admin_revokes_a_key(people, acme) -> None:  # noqa: ANN001
    from costwatch.projects.services import authenticate_key, issue_key

    issued = issue_key(acme, "read")
    response = people.client("admin").post(f"/p/acme/settings/keys/{issued.key.pk}/revoke/", follow=True)
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    assert authenticate_key(issued.secret, "read") is None


def test_a_key_of_another_project_cannot_be_revoked_here(people, acme, globex) -> None:  # noqa: ANN001
    from costwatch.projects.services import authenticate_key, issue_key

    issued = issue_key(globex, "read")
    assert people.client("admin").post(f"/p/acme/settings/keys/{issued.key.pk}/revoke/").status_code == 404
    assert authenticate_key(issued.secret, "read") is not None


@pytest.mark.parametrize("who", ["finance", "oncall"])
def test_finance_and_oncall_cannot_see_or_make_keys(people, acme, who) -> None:  # noqa: ANN001
    from costwatch.projects.models import ApiKey
    from costwatch.projects.services import issue_key

    issued = issue_key(acme, "ingest")
    client = people.client(who)
    assert client.get("/p/acme/settings/keys/").status_code == 403
    assert client.post("/p/acme/settings/keys/", {"scope": "read"}).status_code == 403
    assert client.post(f"/p/acme/settings/keys/{issued.key.pk}/revoke/").status_code == 403
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1
    assert "Settings</a>" not in client.get("/p/acme/pricing/").content.decode()


def test_revoking_needs_a_post(people, acme) -> None:  # noqa: ANN001
    from costwatch.projects.services import issue_key

    issued = issue_key(acme, "ingest")
    assert people.client("admin").get(f"/p/acme/settings/keys/{issued.key.pk}/revoke/").status_code == 405


def test_admin_sets_a_members_role(people, acme) -> None:  # noqa: ANN001
    from costwatch.projects.services import role_of

    client = people.client("admin")
    response = client.post("/p/acme/settings/members/", {"username": "gus", "role": "finance"}, follow=True)
    assert response.status_code == 200
    assert role_of(people.outsider, acme) == "finance"
    client.post("/p/acme/settings/members/", {"username": "oscar", "role": "admin"})
    assert role_of(people.oncall, acme) == "admin"


def test_admin_removes_a_member_but_never_the_last_admin(people, acme, globex) -> None:  # noqa: ANN001
    from costwatch.projects.models import Membership
    from costwatch.projects.services import role_of

    client = people.client("admin")
    fin = Membership.objects.get(project=acme, user=people.finance)
    response = client.post(f"/p/acme/settings/members/{fin.pk}/remove/", follow=True)
    assert response.status_code == 200 and "no longer has access" in response.content.decode()
    assert role_of(people.finance, acme) is None
    assert client.get("/p/acme/").status_code == 200
    assert people.client("finance").get("/p/acme/").status_code == 404

    ada = Membership.objects.get(project=acme, user=people.admin)
    response = client.post(f"/p/acme/settings/members/{ada.pk}/remove/", follow=True)
    assert "last admin" in response.content.decode()
    response = client.post("/p/acme/settings/members/", {"username": "ada", "role": "finance"})
    assert response.status_code == 400 and "last admin" in response.content.decode()
    assert role_of(people.admin, acme) == "admin"
    gus = Membership.objects.get(project=globex, user=people.outsider)
    assert client.post(f"/p/acme/settings/members/{gus.pk}/remove/").status_code == 404
    assert role_of(people.outsider, globex) == "admin"


def test_unknown_member_name_is_a_form_error(people, acme) -> None:  # noqa: ANN001
    response = people.client("admin").post("/p/acme/settings/members/", {"username": "nobody", "role": "finance"})
    assert response.status_code == 400
    assert "There is no account named" in response.content.decode()


@pytest.mark.parametrize("who", ["finance", "oncall"])
def test_only_admins_manage_members(people, acme, who) -> None:  # noqa: ANN001
    from costwatch.projects.services import role_of

    client = people.client(who)
    assert client.get("/p/acme/settings/members/").status_code == 403
    assert client.post("/p/acme/settings/members/", {"username": who_name(who), "role": "admin"}).status_code == 403
    assert role_of(getattr(people, who), acme) == who


def who_name(who: str) -> str:
    return {"finance": "fin", "oncall": "oscar"}[who]


@pytest.mark.parametrize("who", ["admin", "finance", "oncall"])
def test_everyone_in_the_project_reads_the_price_catalog(people, acme, who) -> None:  # noqa: ANN001
    from costwatch.pricing.models import ModelPrice

    ModelPrice.objects.create(provider="openai", model="gpt-4o", input="2.5", output="10", effective_from="2024-08-06")
    response = people.client(who).get("/p/acme/pricing/?q=4o")
    assert response.status_code == 200
    body = response.content.decode()
    assert "gpt-4o" in body and "$2.5" in body
    assert ("Add an override" in body) == (who == "admin")


def test_admin_adds_a_price_override_for_the_project(people, acme, globex) -> None:  # noqa: ANN001
    from costwatch.pricing.models import ModelPrice
    from costwatch.pricing.pricebook import PriceBook

    ModelPrice.objects.create(provider="openai", model="gpt-4o", input="2.5", output="10", effective_from="2024-08-06")
    response = people.client("admin").post(
        "/p/acme/pricing/overrides/",
        {
            "provider": "openai",
            "model": "gpt-4o",
            "input": "2.0",
            "output": "8",
            "cache_read": "",
            "cache_write": "",
            "effective_from": "2025-01-01",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Override openai/gpt-4o from 2025-01-01 added" in response.content.decode()
    override = ModelPrice.objects.get(project=acme)
    assert override.input == Decimal("2.0") and override.origin == "manual"
    from datetime import date

    assert PriceBook(acme).price_for("gpt-4o", date(2025, 6, 1)).price == override
    assert PriceBook(globex).price_for("gpt-4o", date(2025, 6, 1)).price.project_id is None


def test_a_bad_override_is_shown_with_its_errors(people, acme) -> None:  # noqa: ANN001
    from costwatch.pricing.models import ModelPrice

    response = people.client("admin").post(
        "/p/acme/pricing/overrides/",
        {"provider": "openai", "model": "gpt-4o", "input": "-1", "output": "abc", "effective_from": "2025-01-01"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "greater than or equal to 0" in body and "Enter a number" in body
    assert not ModelPrice.objects.filter(project=acme).exists()


@pytest.mark.parametrize("who", ["finance", "oncall"])
def test_finance_and_oncall_cannot_add_price_overrides(people, acme, who) -> None:  # noqa: ANN001
    from costwatch.pricing.models import ModelPrice

    response = people.client(who).post(
        "/p/acme/pricing/overrides/",
        {"provider": "openai", "model": "gpt-4o", "input": "1", "output": "1", "effective_from": "2025-01-01"},
    )
    assert response.status_code == 403
    assert not ModelPrice.objects.filter(project=acme).exists()


def test_pricing_page_shows_the_catalog_source_version_count_and_last_sync(people, acme, default_catalog) -> None:  # noqa: ANN001
    import genai_prices

    body = people.client("finance").get("/p/acme/pricing/?q=claude-sonnet-4-5").content.decode()
    assert f"genai-prices {genai_prices.__version__}" in body
    assert f"{default_catalog.models:,} of {default_catalog.providers} providers" in body
    assert "by test: " in body and "Last sync" in body
    assert "claude-sonnet-4-5" in body and "$3" in body and "$15" in body and "above 200,000" in body
    assert "gpt-4o-mini" not in body


def test_pricing_search_finds_bedrock_ids_and_lists_at_most_a_hundred(people, acme, default_catalog) -> None:  # noqa: ANN001
    bedrock = people.client("admin").get("/p/acme/pricing/?q=global.anthropic").content.decode()
    assert "global.anthropic.claude-sonnet-4-5-20250929-v1:0" in bedrock
    everything = people.client("admin").get("/p/acme/pricing/").content.decode()
    assert "Showing 100 of" in everything


def test_model_history_page_lists_every_price_of_the_model(people, acme, default_catalog) -> None:  # noqa: ANN001
    client = people.client("oncall")
    body = client.get("/p/acme/pricing/history/", {"provider": "openai", "model": "gpt-4o"}).content.decode()
    assert "2024-05-13 – 2024-10-02" in body and "$5" in body and "$15" in body  # the launch price
    assert "2024-10-02 –" in body and "$2.5" in body
    assert "priority" in body and "batch" in body and "web_searches_kcount" in body
    deepseek = client.get("/p/acme/pricing/history/", {"provider": "deepseek", "model": "deepseek-chat"})
    assert "00:30–16:30" in deepseek.content.decode()
    assert client.get("/p/acme/pricing/history/", {"provider": "openai", "model": "nope"}).status_code == 404


def test_repricings_are_listed_on_the_pricing_page(people, acme, globex) -> None:  # noqa: ANN001
    from costwatch.pricing.models import Repricing

    Repricing.objects.create(
        project=acme,
        by="alice",
        model="gpt-4o",
        checked=10,
        changed=4,
        total_before=Decimal("1.5"),
        total_after=Decimal("2.25"),
        unpriced_before=3,
    )
    Repricing.objects.create(project=globex, by="mallory", checked=1, changed=1)
    body = people.client("finance").get("/p/acme/pricing/").content.decode()
    assert "alice" in body and "model gpt-4o" in body and "$1.5" in body and "$2.25" in body and "3 → 0" in body
    assert "mallory" not in body


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/p/acme/settings/keys/", {"name": "ci", "scope": "read"}),
        ("/p/acme/settings/members/", {"username": "gus", "role": "finance"}),
        (
            "/p/acme/pricing/overrides/",
            {"provider": "vllm", "model": "llama-x", "input": "0.2", "output": "0.6", "effective_from": "2025-01-01"},
        ),
        (
            "/p/acme/alerts/channels/new/",
            {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/x", "enabled": "on"},
        ),
        (
            "/p/acme/alerts/rules/new/",
            {
                "name": "cap",
                "kind": "budget",
                "scope": "project",
                "period": "day",
                "amount_usd": "10",
                "repeat_interval_minutes": "60",
                "enabled": "on",
            },
        ),
    ],
)
def test_every_form_that_creates_something_answers_with_a_redirect(people, acme, path, data) -> None:  # noqa: ANN001
    """Post/redirect/get: a reload after a create repeats a GET, never the POST."""
    response = people.client("admin").post(path, data)
    assert response.status_code == 302, response.content.decode()[:2000]
