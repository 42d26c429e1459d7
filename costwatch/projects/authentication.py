"""DRF authentication with a project `read` key: `Authorization: Bearer <key>` or `x-costwatch-key`."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from costwatch.projects import throttle
from costwatch.projects.models import ApiKey, KeyScope
from costwatch.projects.services import authenticate_key


class KeyPrincipal:
    """The caller behind an API key: authenticated, scoped to one project, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.project = key.project

    def __str__(self) -> str:
        return f"key {self.key.prefix}…"


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (headers.get("X-Costwatch-Key") or headers.get("x-costwatch-key") or "").strip() or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    scope = KeyScope.READ

    def authenticate(self, request: Request) -> tuple[KeyPrincipal, ApiKey] | None:
        secret = key_from_headers(request.headers)
        if secret is None:
            return None
        address = throttle.client_address(request._request)
        guessing = throttle.check(throttle.KEY_ADDRESS, address)
        if not guessing.allowed:
            raise exceptions.Throttled(wait=guessing.retry_after, detail="Too many invalid keys from this address.")
        key = authenticate_key(secret, self.scope)
        if key is None:
            throttle.record_failure(throttle.KEY_ADDRESS, address)
            raise exceptions.AuthenticationFailed("Invalid, revoked or wrong-scope API key (a read key is needed).")
        return KeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="costwatch"'
