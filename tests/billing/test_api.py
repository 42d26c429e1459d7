"""The billing sources API: admin only, the key is write-only, pull now and revoke."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from costwatch.billing.models import BillingSource
from costwatch.projects.models import Role
from costwatch.projects.services import set_member

pytestmark = pytest.mark.django_db


def _member(project, role: str) -> APIClient:  # noqa: ANN001
    user = get_user_model().objects.create_user(f"{role}-{project.slug}", password="pw-123456")
    set_member(project, user, role)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_sources_are_managed_by_admins_and_never_return_the_key(acme, globex, acme_read_key) -> None:  # noqa: ANN001
    admin = _member(acme, Role.ADMIN)
    created = admin.post(
        "/api/v1/billing/sources?project=acme",
        {
            "provider": "openai",
            "admin_key": "sk-admin-abcdefgh-1234",
            "scope_ids": ["proj_a"],
            "base_url": "http://127.0.0.1:9",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "admin_key" not in body and "abcdefgh" not in created.content.decode()
    assert (body["provider"], body["key_hint"], body["scope_ids"], body["name"]) == (
        "openai",
        "1234",
        ["proj_a"],
        "OpenAI (organization Costs API)",
    )
    listed = admin.get("/api/v1/billing/sources?project=acme").json()["results"]
    assert [s["id"] for s in listed] == [body["id"]] and "abcdefgh" not in str(listed)

    pull = admin.post(f"/api/v1/billing/sources/{body['id']}/pull?project=acme")
    assert pull.status_code == 202
    assert admin.delete(f"/api/v1/billing/sources/{body['id']}?project=acme").status_code == 204
    assert BillingSource.objects.get().encrypted_key == ""
    assert admin.post(f"/api/v1/billing/sources/{body['id']}/pull?project=acme").status_code == 409

    assert _member(acme, Role.FINANCE).get("/api/v1/billing/sources?project=acme").status_code == 403
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    assert keyed.get("/api/v1/billing/sources").status_code == 403
    other = _member(globex, Role.ADMIN)
    assert other.delete(f"/api/v1/billing/sources/{body['id']}?project=globex").status_code == 404


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"provider": "azure", "admin_key": "k"}, "provider"),
        ({"provider": "openai"}, "admin_key"),
        ({"provider": "openai", "admin_key": "   "}, "admin_key"),
        ({"provider": "openai", "admin_key": "k", "base_url": "ftp://x"}, "base_url"),
    ],
)
def test_bad_sources_are_refused_with_the_field(acme, payload: dict, field: str) -> None:  # noqa: ANN001
    response = _member(acme, Role.ADMIN).post("/api/v1/billing/sources?project=acme", payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not BillingSource.objects.exists()
