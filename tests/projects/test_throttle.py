"""Guessing passwords and keys: throttled per account and per address, through the real views."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import REPO

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(django_user_model, settings):  # noqa: ANN001, ANN201
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def _login(client: Client, username: str, password: str, address: str = "203.0.113.7"):  # noqa: ANN202
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(alice, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_LOGIN_FAILURES_PER_ACCOUNT = 10
    client = Client()
    for attempt in range(10):
        assert _login(client, "alice", f"wrong-{attempt}", address=f"198.51.100.{attempt}").status_code == 200
    response = _login(client, "Alice", PASSWORD, address="198.51.100.99")  # another address, the name in capitals
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_many_accounts_from_one_address_are_throttled_per_address(alice, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_LOGIN_FAILURES_PER_ADDRESS = 5
    client = Client()
    for n in range(5):
        _login(client, f"user{n}", "guess")
    assert _login(client, "alice", PASSWORD).status_code == 429
    assert _login(client, "alice", PASSWORD, address="192.0.2.1").status_code == 302  # another address signs in


def test_a_successful_sign_in_clears_the_account_count(alice, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(2):
        _login(Client(), "alice", "nope")
    assert _login(Client(), "alice", PASSWORD).status_code == 302
    for _ in range(2):
        _login(Client(), "alice", "nope")
    assert _login(Client(), "alice", PASSWORD).status_code == 302


def test_bad_api_keys_are_throttled_per_address_on_ingest_and_the_api(
    acme, acme_read_key, acme_ingest_key, settings
) -> None:  # noqa: ANN001
    settings.COSTWATCH_BAD_KEYS_PER_ADDRESS = 5
    client = Client()
    body = json.dumps({"resourceSpans": []})
    for n in range(5):
        response = client.post(
            "/v1/traces",
            body,
            content_type="application/json",
            HTTP_X_COSTWATCH_KEY=f"cw_ingest_guess{n}",
            REMOTE_ADDR="203.0.113.9",
        )
        assert response.status_code == 401
    response = client.post(
        "/v1/traces",
        body,
        content_type="application/json",
        HTTP_X_COSTWATCH_KEY=acme_ingest_key,
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    assert api.get("/api/v1/summary").status_code == 429
    other = APIClient(REMOTE_ADDR="192.0.2.50")
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    assert other.get("/api/v1/summary").status_code == 200
    assert (
        client.post(
            "/v1/traces",
            body,
            content_type="application/json",
            HTTP_X_COSTWATCH_KEY=acme_ingest_key,
            REMOTE_ADDR="192.0.2.50",
        ).status_code
        == 200
    )


def _settings_with(env: dict[str, str]) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'session': s.SESSION_COOKIE_SECURE, 'csrf': s.CSRF_COOKIE_SECURE, 'hsts': s.SECURE_HSTS_SECONDS, "
        "'proxy': s.SECURE_PROXY_SSL_HEADER}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "costwatch.settings", **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.process
def test_the_tls_proxy_setting_makes_cookies_secure_and_sends_hsts(settings, alice) -> None:  # noqa: ANN001
    assert _settings_with({}) == {"session": False, "csrf": False, "hsts": 0, "proxy": None}
    assert _settings_with({"COSTWATCH_TLS_PROXY": "true"}) == {
        "session": True,
        "csrf": True,
        "hsts": 31536000,
        "proxy": ["HTTP_X_FORWARDED_PROTO", "https"],
    }
    # What those settings do behind the proxy, through Django's middleware:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client()
    page = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert page["Strict-Transport-Security"] == "max-age=31536000"
    assert page.cookies["csrftoken"]["secure"]
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"]
