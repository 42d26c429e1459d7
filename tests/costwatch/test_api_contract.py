"""What the schema promises beyond shapes: status codes, error bodies, HTML for people, unknown URLs."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:  # noqa: ANN001
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


@pytest.fixture
def ada(acme):  # noqa: ANN001, ANN201
    from django.contrib.auth import get_user_model

    from costwatch.projects.services import set_member

    user = get_user_model().objects.create_user("ada")
    set_member(acme, user, "admin")
    client = Client()
    client.force_login(user)
    return client


def _resolve(schema: dict, ref_or_schema: dict) -> dict:
    if "$ref" in ref_or_schema:
        return schema["components"]["schemas"][ref_or_schema["$ref"].rsplit("/", 1)[1]]
    return ref_or_schema


def test_costs_are_documented_as_the_paginated_object_they_are(schema) -> None:  # noqa: ANN001
    ok = schema["paths"]["/api/v1/costs"]["get"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/csv"}
    page = _resolve(schema, ok["application/json"]["schema"])
    assert {"count", "page", "page_size", "next", "previous", "results"} <= set(page["required"])
    row = _resolve(schema, page["properties"]["results"]["items"])
    assert row["properties"]["cost_usd"]["nullable"] is True
    assert row["properties"]["cost_usd"]["format"] == "decimal"
    for name in ("unpriced_calls", "unknown_usage_calls", "cost_complete", "reasoning_tokens", "cost_input_usd"):
        assert name in row["properties"]


def test_every_operation_documents_its_errors_and_creates_answer_201(schema) -> None:  # noqa: ANN001
    operations = [
        (path, method, op)
        for path, ops in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in ops.items()
    ]
    assert len(operations) >= 29
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"400", "401", "403"} <= codes, (method, path)
        assert "{" not in path or "404" in codes, (method, path)
        for code in codes - {"204"}:
            assert op["responses"][code].get("content"), (method, path, code)  # typed, never an untyped object
    for path in ("/api/v1/alerts/rules", "/api/v1/alerts/channels"):
        assert "201" in schema["paths"][path]["post"]["responses"]
        assert "200" not in schema["paths"][path]["post"]["responses"]


def test_no_response_is_an_untyped_object(schema) -> None:  # noqa: ANN001
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                for media in (response.get("content") or {}).values():
                    body = media["schema"]
                    assert body.get("$ref") or body.get("properties") or body.get("type") == "string", (
                        method,
                        path,
                        code,
                        body,
                    )


def test_the_browsable_api_renders_for_a_signed_in_person(ada, acme) -> None:  # noqa: ANN001
    response = ada.get("/api/v1/costs?group_by=user&project=acme", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "results" in response.content.decode()
    json_response = ada.get("/api/v1/costs?group_by=user&project=acme")
    assert json_response["Content-Type"] == "application/json"


def test_an_unknown_api_url_answers_a_json_404(ada) -> None:  # noqa: ANN001
    for path in ("/api/v1/alerts/rules/abc", "/api/v1/nothing-here"):
        response = ada.get(path)
        assert response.status_code == 404 and "no API endpoint" in response.json()["detail"]
    assert Client().post("/api/v1/alerts/rules/abc/x", enforce_csrf_checks=True).status_code == 404


def test_a_nul_character_is_a_400_not_a_500(ada, acme_read_key) -> None:  # noqa: ANN001
    key = Client(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    response = key.get("/api/v1/costs", {"group_by": "user", "user": "a\x00b"})
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert key.get("/api/v1/users/a%00b").status_code == 400
    response = ada.post(
        "/api/v1/alerts/rules?project=acme", {"name": "x\x00", "kind": "anomaly"}, content_type="application/json"
    )
    assert response.status_code == 400


def test_a_user_without_spend_in_the_period_is_a_404(acme_read_key) -> None:  # noqa: ANN001
    response = Client(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}").get("/api/v1/users/nobody")
    assert response.status_code == 404
    assert "no spend recorded for user 'nobody'" in response.json()["detail"]


def test_a_rule_without_a_channel_says_it_notifies_nobody(ada, acme) -> None:  # noqa: ANN001
    created = ada.post(
        "/api/v1/alerts/rules?project=acme",
        {"name": "cap", "kind": "budget", "period": "day", "amount_usd": "5"},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["notifies_nobody"] is True
    assert "notifies nobody" in created.json()["warnings"][0]
    channel = ada.post(
        "/api/v1/alerts/channels?project=acme",
        {"name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/"}},
        content_type="application/json",
    ).json()
    patched = ada.patch(
        f"/api/v1/alerts/rules/{created.json()['id']}?project=acme",
        {"channels": [channel["id"]]},
        content_type="application/json",
    ).json()
    assert patched["notifies_nobody"] is False and patched["warnings"] == []
    ada.patch(
        f"/api/v1/alerts/channels/{channel['id']}?project=acme", {"enabled": False}, content_type="application/json"
    )
    again = ada.get(f"/api/v1/alerts/rules/{created.json()['id']}?project=acme").json()
    assert again["notifies_nobody"] is True and "disabled" in again["warnings"][0]


def test_cost_rows_have_exactly_the_documented_fields() -> None:
    """The costs API sends cost_row_json's dicts as they are (speed): they must match CostRowSerializer."""
    from decimal import Decimal

    from costwatch.usage.exports import cost_row_json
    from costwatch.usage.queries import CostRow
    from costwatch.usage.serializers import CostRowSerializer

    row = cost_row_json(CostRow("alice", cost_usd=Decimal("0.0106"), requests=2, llm_calls=3))
    fields = CostRowSerializer().fields
    required = {name for name, field in fields.items() if field.required}
    assert required <= set(row) <= set(fields)
    assert CostRowSerializer(row).data == dict(row)
