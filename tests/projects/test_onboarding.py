"""From a fresh project to people working in it: createproject --owner, addmember, the Settings page,
and one access rule for superusers shared by the API and the pages."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from costwatch.projects.models import Membership, Project
from costwatch.projects.services import role_of

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:  # noqa: ANN001
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_createproject_with_an_owner_lets_them_into_the_api_and_the_pages() -> None:
    owner = get_user_model().objects.create_user("olga", password=PASSWORD)
    call_command("createproject", "shop", "--owner", "olga", stdout=StringIO(), stderr=StringIO())
    shop = Project.objects.get(slug="shop")
    assert role_of(owner, shop) == "admin"
    client = signed_in(owner)
    assert client.get("/api/v1/costs?group_by=user&project=shop").status_code == 200
    assert client.get("/p/shop/").status_code == 200
    assert client.get("/p/shop/settings/members/").status_code == 200


def test_createproject_with_an_unknown_owner_creates_nothing() -> None:
    with pytest.raises(CommandError, match="no account named 'ghost'"):
        call_command("createproject", "shop", "--owner", "ghost", stdout=StringIO(), stderr=StringIO())
    assert not Project.objects.filter(slug="shop").exists()


def test_createproject_without_an_owner_says_how_to_add_one() -> None:
    err = StringIO()
    call_command("createproject", "shop", stdout=StringIO(), stderr=err)
    assert "manage.py addmember shop USERNAME --role admin" in err.getvalue()


def test_addmember_gives_an_existing_account_a_role(acme) -> None:  # noqa: ANN001
    fin = get_user_model().objects.create_user("fin", password=PASSWORD)
    out = StringIO()
    call_command("addmember", "acme", "fin", "--role", "finance", stdout=out)
    assert role_of(fin, acme) == "finance"
    assert "fin is now Finance of acme" in out.getvalue()
    assert signed_in(fin).get("/api/v1/costs?group_by=user&project=acme&format=csv").status_code == 200
    assert signed_in(fin).get("/p/acme/settings/keys/").status_code == 403


def test_addmember_create_prints_a_one_time_link_that_sets_the_password(acme) -> None:  # noqa: ANN001
    out = StringIO()
    call_command("addmember", "acme", "nina", "--role", "oncall", "--create", "--email", "nina@example.com", stdout=out)
    nina = get_user_model().objects.get(username="nina")
    assert not nina.has_usable_password() and nina.email == "nina@example.com"
    link = re.search(r"(/reset/\S+/)$", out.getvalue().strip()).group(1)
    client = Client()
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose your password" in form.content.decode()
    done = client.post(
        form.request["PATH_INFO"],
        {"new_password1": "a long new password 7", "new_password2": "a long new password 7"},
        follow=True,
    )
    assert "Your password is set" in done.content.decode()
    assert client.login(username="nina", password="a long new password 7")
    assert client.get("/p/acme/alerts/").status_code == 200
    again = Client().get(link, follow=True)
    assert "has been used or has expired" in again.content.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere", "fin", "--role", "finance"], "no project 'nowhere'"),
        (["acme", "ghost", "--role", "finance"], "no account named 'ghost'"),
        (["acme", "bad name!", "--role", "finance", "--create"], "valid username"),
    ],
)
def test_addmember_refuses_bad_input_with_a_message(acme, args, message) -> None:  # noqa: ANN001
    get_user_model().objects.create_user("fin")
    with pytest.raises(CommandError, match=message):
        call_command("addmember", *args, stdout=StringIO())
    assert not Membership.objects.exists()


def test_addmember_needs_a_known_role(acme) -> None:  # noqa: ANN001
    get_user_model().objects.create_user("fin")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("addmember", "acme", "fin", "--role", "owner", stdout=StringIO())


def test_a_superuser_who_is_no_member_may_use_every_project_in_api_and_pages(acme, globex, acme_read_key) -> None:  # noqa: ANN001
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client = signed_in(root)
    for slug in ("acme", "globex"):
        assert client.get(f"/api/v1/costs?group_by=user&project={slug}").status_code == 200
        assert client.get(f"/api/v1/alerts/rules?project={slug}").status_code == 200
        assert client.get(f"/p/{slug}/").status_code == 200
        assert client.get(f"/p/{slug}/settings/keys/").status_code == 200
    assert (
        client.post(
            "/api/v1/alerts/rules?project=globex",
            {"name": "cap", "kind": "budget", "period": "day", "amount_usd": "10"},
            content_type="application/json",
        ).status_code
        == 201
    )
    # A read key stays inside its project whoever made it.
    key = Client(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    assert key.get("/api/v1/costs?group_by=user&project=globex").status_code == 403


def test_the_api_and_the_pages_take_their_decision_from_one_gate(acme, globex) -> None:  # noqa: ANN001
    from costwatch.projects.permissions import Action, ActionNotAllowed, ProjectNotVisible, project_for
    from costwatch.projects.services import set_member

    fin = get_user_model().objects.create_user("fin")
    set_member(acme, fin, "finance")
    assert project_for(fin, "acme", Action.EXPORT_COSTS) == acme
    with pytest.raises(ActionNotAllowed):
        project_for(fin, "acme", Action.MANAGE_KEYS)
    with pytest.raises(ProjectNotVisible):
        project_for(fin, "globex", Action.VIEW_COSTS)
    client = signed_in(fin)
    assert client.get("/p/acme/settings/keys/").status_code == 403
    assert (
        client.post(
            "/api/v1/aliases?project=acme", {"alias": "x", "model": "gpt-4o"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert client.get("/p/globex/").status_code == 404
    assert client.get("/api/v1/costs?group_by=user&project=globex").status_code == 403


def test_settings_page_creates_a_person_with_the_chosen_role_and_shows_the_link_once(acme) -> None:  # noqa: ANN001
    from costwatch.projects.services import set_member

    ada = get_user_model().objects.create_user("ada", password=PASSWORD)
    set_member(acme, ada, "admin")
    client = signed_in(ada)
    page = client.get("/p/acme/settings/members/").content.decode()
    role_select = re.search(r'<select name="role".*?</select>', page, re.S).group(0)
    assert "selected" not in role_select.replace('value="" selected', "")  # nothing but the prompt preselected
    assert (
        client.post("/p/acme/settings/members/", {"username": "nina", "email": "nina@example.com"}).status_code == 400
    )
    response = client.post(
        "/p/acme/settings/members/", {"username": "nina", "email": "nina@example.com", "role": "finance"}
    )
    assert response.status_code == 302
    nina = get_user_model().objects.get(username="nina")
    assert role_of(nina, acme) == "finance"
    shown = client.get("/p/acme/settings/members/")
    assert shown["Cache-Control"] == "no-store"
    link = re.search(r'value="(http://testserver/reset/[^"]+)"', shown.content.decode()).group(1)
    assert link not in client.get("/p/acme/settings/members/").content.decode()
    assert Client().get(link.removeprefix("http://testserver"), follow=True).status_code == 200


def test_settings_page_does_not_create_an_account_without_an_email(acme) -> None:  # noqa: ANN001
    from costwatch.projects.services import set_member

    ada = get_user_model().objects.create_user("ada")
    set_member(acme, ada, "admin")
    response = signed_in(ada).post("/p/acme/settings/members/", {"username": "typo", "role": "finance"})
    assert response.status_code == 400
    assert "give an e-mail address to create it" in response.content.decode()
    assert not get_user_model().objects.filter(username="typo").exists()


def test_an_admin_renews_the_link_of_a_member_without_a_password(acme) -> None:  # noqa: ANN001
    from costwatch.projects.services import add_member, set_member

    ada = get_user_model().objects.create_user("ada")
    set_member(acme, ada, "admin")
    nina = add_member(acme, "nina", "finance", create=True, email="nina@example.com").membership
    client = signed_in(ada)
    assert "no password yet" in client.get("/p/acme/settings/members/").content.decode()
    response = client.post(f"/p/acme/settings/members/{nina.pk}/password-link/")
    assert response.status_code == 302
    page = client.get("/p/acme/settings/members/").content.decode()
    assert "A new link for nina" in page
    link = re.search(r'value="http://testserver(/reset/[^"]+)"', page).group(1)
    browser = Client()
    done = browser.post(
        browser.get(link, follow=True).request["PATH_INFO"],
        {"new_password1": "a long new password 7", "new_password2": "a long new password 7"},
    )
    assert done.status_code == 302
    out = StringIO()
    call_command("addmember", "acme", "nina", "--role", "oncall", stdout=out)
    assert "/reset/" not in out.getvalue()  # she has a password now: no link
