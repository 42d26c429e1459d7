from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import tiktoken
from rest_framework.test import APIClient

from costwatch.money import decimal_json
from costwatch.pricing.cost import PriceRow, TokenCounts, cost_of
from costwatch.pricing.models import ModelAlias, ModelPrice
from costwatch.pricing.pricebook import PriceBook
from costwatch.pricing.store import set_price
from costwatch.usage.models import DirtyBucket, LlmCall
from tests.usage.factories import make_call

pytestmark = pytest.mark.django_db
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Summarise the plot of Hamlet in two sentences, please."},
]


def _key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _user_client(user) -> APIClient:  # noqa: ANN001
    client = APIClient()
    client.force_login(user)
    return client


def _cookbook_count(encoding_name: str, messages: list[dict[str, str]]) -> int:
    encoding = tiktoken.get_encoding(encoding_name)
    return 3 + sum(3 + sum(len(encoding.encode(v)) for v in m.values()) for m in messages)


def _estimate(client: APIClient, body: dict, project: str | None = None):  # noqa: ANN202
    url = "/api/v1/estimate" + (f"?project={project}" if project else "")
    return client.post(url, body, format="json")


# --- estimate -----------------------------------------------------------------------------------


def test_estimate_counts_match_tiktoken_and_cost_matches_the_row_in_force(default_catalog, acme, acme_read_key) -> None:
    response = _estimate(
        _key_client(acme_read_key), {"messages": MESSAGES, "models": ["gpt-4o", "gpt-4"], "output_tokens": 400}
    )
    assert response.status_code == 200, response.content
    results = {r["model"]: r for r in response.json()["results"]}
    assert results["gpt-4o"]["input_tokens"] == _cookbook_count("o200k_base", MESSAGES)
    assert results["gpt-4"]["input_tokens"] == _cookbook_count("cl100k_base", MESSAGES)
    assert results["gpt-4o"]["approximate"] is False and results["gpt-4o"]["encoding"] == "o200k_base"
    for model, result in results.items():
        priced = PriceBook(acme).price_for(model, datetime.now(timezone.utc))
        expected = cost_of(TokenCounts(input=result["input_tokens"], output=400), priced.row)
        assert result["cost"] == decimal_json(expected.total)
        assert result["price"]["id"] == priced.price.pk and result["price"]["override"] is False
        assert result["fits"] is True and result["problems"] == []
    assert response.json()["unpriced"] == []


def test_estimate_of_text_flags_approximate_counts_for_claude(default_catalog, acme_read_key) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    response = _estimate(_key_client(acme_read_key), {"text": text, "models": ["claude-sonnet-4-5", "gpt-4o"]})
    assert response.status_code == 200, response.content
    gpt, claude = response.json()["results"]  # cheapest first: $2.50 before $3 per 1M input tokens
    assert (gpt["model"], claude["model"]) == ("gpt-4o", "claude-sonnet-4-5")
    assert claude["approximate"] is True and gpt["approximate"] is False
    assert gpt["input_tokens"] == len(tiktoken.get_encoding("o200k_base").encode(text))
    assert claude["priced"] is True and claude["price_key"] == "claude-sonnet-4-5"
    assert claude["output_tokens"] == 0 and Decimal(claude["cost"]) > 0


def test_estimate_uses_the_projects_override(default_catalog, acme, globex, acme_read_key, globex_read_key) -> None:
    override = set_price(PriceRow(provider="openai", model="gpt-4o", input="1", output="4"), project=acme).price
    body = {"text": "hello world", "models": ["gpt-4o"], "output_tokens": 1_000_000}
    acme_result = _estimate(_key_client(acme_read_key), body).json()["results"][0]
    globex_result = _estimate(_key_client(globex_read_key), body).json()["results"][0]
    assert acme_result["price"] == {**acme_result["price"], "id": override.pk, "override": True}
    assert acme_result["cost"] == "4.000002"  # 2 input tokens at $1/M + 1M output tokens at $4/M
    assert globex_result["cost"] == "10.000005" and globex_result["price"]["override"] is False


def test_estimate_says_when_the_prompt_does_not_fit(default_catalog, acme, acme_read_key) -> None:
    set_price(
        PriceRow(
            provider="self-hosted", model="tiny-llm", input="0.1", output="0.1", context_window=50, max_output_tokens=20
        ),
        project=acme,
    )
    client = _key_client(acme_read_key)
    text = "word " * 200
    tokens = len(tiktoken.get_encoding("o200k_base").encode(text))
    long_text = _estimate(client, {"text": text, "models": ["tiny-llm"]}).json()
    result = long_text["results"][0]
    assert result["fits"] is False and long_text["too_long"] == ["tiny-llm"]
    assert f"prompt ({tokens} tokens) is longer than tiny-llm's context window (50 tokens)" in result["problems"][0]
    assert result["cost"] is not None  # still priced: the caller decides
    too_much = _estimate(client, {"text": "hi", "models": ["gpt-4o", "tiny-llm"], "output_tokens": 200_000}).json()
    tiny, gpt = too_much["results"]  # cheapest first
    assert "exceeds tiny-llm's maximum output (20 tokens)" in " ".join(tiny["problems"])
    assert (
        "plus the expected output (200000 tokens) exceed gpt-4o's context window (128000 tokens)" in gpt["problems"][0]
    )


def test_estimate_returns_models_cheapest_first(default_catalog, acme_read_key) -> None:
    models = ["claude-opus-4-1", "gpt-4o", "gpt-4o-mini", "mystery-9000", "claude-haiku-4-5"]
    body = {"text": "hello " * 100, "models": models, "output_tokens": 1000}
    results = _estimate(_key_client(acme_read_key), body).json()["results"]
    assert [r["model"] for r in results] == [
        "gpt-4o-mini",
        "claude-haiku-4-5",
        "gpt-4o",
        "claude-opus-4-1",
        "mystery-9000",
    ]
    costs = [Decimal(r["cost"]) for r in results[:-1]]
    assert costs == sorted(costs) and results[-1]["cost"] is None


def test_estimate_compares_the_prompt_across_every_fitting_catalog_model(default_catalog, acme_read_key) -> None:
    body = {
        "text": "hello " * 1000,
        "output_tokens": 500,
        "compare": {"providers": ["openai", "anthropic"], "min_context_window": 200_000, "limit": 200},
    }
    response = _estimate(_key_client(acme_read_key), body)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) > 10
    assert {r["provider"] for r in results} <= {"openai", "anthropic"}
    assert all(r["context_window"] >= 200_000 and r["fits"] is True for r in results)
    costs = [Decimal(r["cost"]) for r in results]
    assert costs == sorted(costs) and costs[0] > 0
    assert "claude-sonnet-4-5" in {r["price_key"] for r in results}
    assert "gpt-4o" not in {r["price_key"] for r in results}  # 128k context window: filtered out


def test_estimate_compare_by_modality_and_limit(default_catalog, acme_read_key) -> None:
    body = {"text": "hi", "models": ["gpt-4o"], "compare": {"modality": "audio", "limit": 3}}
    results = _estimate(_key_client(acme_read_key), body).json()["results"]
    compared = [r for r in results if r["model"] != "gpt-4o"]
    assert len(compared) == 3 and "gpt-4o" in [r["model"] for r in results]
    for result in compared:
        assert (
            PriceBook(None)
            .price_for(result["price_key"], datetime.now(timezone.utc), provider=result["provider"])
            .row.input_audio
            is not None
        )


@pytest.mark.parametrize(
    ("compare", "needle"),
    [
        ({"modality": "smell"}, "compare.modality must be one of"),
        ({"limit": 0}, "compare.limit must be between 1 and 200"),
        ({"providers": "openai", "min_context_window": -5}, "min_context_window must be a positive"),
        ({"size": "small"}, "unknown compare field(s) size"),
        ("yes", "compare must be true or an object"),
    ],
)
def test_bad_compare_gets_400(acme_read_key, compare, needle: str) -> None:  # noqa: ANN001
    response = _estimate(_key_client(acme_read_key), {"text": "hi", "compare": compare})
    assert response.status_code == 400 and needle in response.json()["detail"]


def test_unknown_model_is_listed_as_unpriced_not_an_error(default_catalog, acme_read_key) -> None:
    response = _estimate(_key_client(acme_read_key), {"text": "hi", "models": ["mystery-9000", "gpt-4o"]})
    assert response.status_code == 200
    mystery = response.json()["results"][1]  # unpriced after the priced ones
    assert (mystery["priced"], mystery["cost"], mystery["fits"]) == (False, None, None)
    assert mystery["input_tokens"] == 1 and mystery["approximate"] is True
    assert response.json()["unpriced"] == ["mystery-9000"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"text": "hi"}, "models must be a non-empty list"),
        ({"text": "hi", "models": []}, "models must be a non-empty list"),
        ({"text": "hi", "models": [""]}, "every model must be a non-empty name"),
        ({"text": "hi", "models": ["gpt-4o"], "output_tokens": -1}, "output_tokens must be between 0"),
        ({"text": "hi", "models": ["gpt-4o"], "output_tokens": "many"}, "output_tokens must be a whole number"),
        ({"text": "hi", "models": ["gpt-4o"], "output_tokens": 1.5}, "output_tokens must be a whole number"),
        ({"models": ["gpt-4o"]}, "send either messages"),
        ({"text": "hi", "messages": MESSAGES, "models": ["gpt-4o"]}, "send either messages"),
        ({"messages": "hello", "models": ["gpt-4o"]}, "messages must be a non-empty list"),
        ({"messages": [{"content": "no role"}], "models": ["gpt-4o"]}, "messages[0] must be an object with a string"),
        ({"text": 42, "models": ["gpt-4o"]}, "text must be a string"),
        ({"text": "hi", "models": ["gpt-4o"], "temperature": 0}, "unknown field(s) temperature"),
        ({"text": "hi", "models": [f"m{i}" for i in range(21)]}, "at most 20 models"),
    ],
)
def test_bad_estimate_requests_get_400_with_a_message(acme_read_key, body: dict, needle: str) -> None:
    response = _estimate(_key_client(acme_read_key), body)
    assert response.status_code == 400
    assert needle in response.json()["detail"]


def test_estimate_needs_credentials_and_keeps_to_the_keys_project(acme, globex, acme_read_key, acme_ingest_key) -> None:
    body = {"text": "hi", "models": ["gpt-4o"]}
    assert _estimate(APIClient(), body).status_code in (401, 403)
    assert _estimate(_key_client(acme_ingest_key), body).status_code == 401
    assert _estimate(_key_client(acme_read_key), body, project="globex").status_code == 403


# --- prices and aliases -------------------------------------------------------------------------


def test_admin_adds_an_override_and_is_told_to_reprice(acme, person) -> None:  # noqa: ANN001
    client = _user_client(person(acme, "admin"))
    body = {
        "provider": "openai",
        "model": "gpt-4o",
        "input": "2",
        "output": "8",
        "cache_read": "1",
        "effective_from": "2025-01-01",
    }
    created = client.post("/api/v1/prices", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["status"] == "added" and data["price"]["override"] is True
    assert (data["price"]["input"], data["price"]["cache_read"]) == ("2", "1")
    assert "POST /api/v1/reprice?project=acme" in data["reprice"] and "manage.py reprice" in data["reprice"]
    again = client.post("/api/v1/prices", body, format="json")
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    listed = client.get("/api/v1/prices").json()
    assert [p["model"] for p in listed["results"]] == ["gpt-4o"]
    assert ModelPrice.objects.get(project=acme).input == Decimal("2")


def test_override_is_not_applied_to_stored_calls_until_reprice(acme, person) -> None:  # noqa: ANN001
    LlmCall.objects.bulk_create(
        [
            make_call(
                acme,
                trace="x",
                at=datetime(2026, 3, 2, tzinfo=timezone.utc),
                model="acme-llama",
                cost=None,
                tokens=1000,
            )
        ]
    )
    client = _user_client(person(acme, "admin"))
    client.post(
        "/api/v1/prices", {"provider": "vllm", "model": "acme-llama", "input": "1", "output": "1"}, format="json"
    )
    assert LlmCall.objects.get().cost_total is None
    response = client.post("/api/v1/reprice?project=acme", {"model": "acme-llama"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "project": "acme",
        "checked": 1,
        "changed": 1,
        "priced": 1,
        "reported": 0,
        "unpriced": 0,
        "hours_marked": 1,
        "total_before_usd": "0",
        "total_after_usd": "0.0015",
        "unpriced_before": 1,
    }
    assert LlmCall.objects.get().cost_total == Decimal("0.0015")
    from costwatch.pricing.models import Repricing

    record = Repricing.objects.get(project=acme)
    assert (record.by, record.model, record.unpriced_before, record.total_after) == (
        "admin-acme",
        "acme-llama",
        1,
        Decimal("0.0015"),
    )
    assert DirtyBucket.objects.filter(project=acme).count() == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"provider": "openai", "model": "gpt-4o", "input": "-1", "output": "8"}, "input must not be negative"),
        ({"provider": "openai", "model": "gpt-4o", "input": 2.5, "output": "8"}, "floats are not exact"),
        ({"provider": "openai", "model": "gpt-4o", "input": "2,5", "output": "8"}, "input is not a number"),
        ({"provider": "openai", "model": "gpt-4o", "input": "nan", "output": "8"}, "input must be finite"),
        (
            {"provider": "openai", "model": "gpt-4o", "input": "1", "output": "8", "discount": "1"},
            "unknown field(s) discount",
        ),
        ({"model": "gpt-4o", "input": "1", "output": "8"}, "provider is required"),
    ],
)
def test_bad_prices_get_400_and_store_nothing(acme, person, body: dict, needle: str) -> None:  # noqa: ANN001
    response = _user_client(person(acme, "admin")).post("/api/v1/prices", body, format="json")
    assert response.status_code == 400
    assert needle in response.json()["detail"]
    assert not ModelPrice.objects.exists()


def test_only_people_who_manage_prices_may_write(acme, globex, person, acme_read_key) -> None:  # noqa: ANN001
    body = {"provider": "openai", "model": "gpt-4o", "input": "2", "output": "8"}
    key = _key_client(acme_read_key)
    finance = _user_client(person(acme, "finance"))
    outsider = _user_client(person(globex, "admin"))
    for client in (key, finance):
        assert client.post("/api/v1/prices", body, format="json").status_code == 403
        assert client.post("/api/v1/aliases", {"alias": "a", "model": "gpt-4o"}, format="json").status_code == 403
        assert client.delete("/api/v1/aliases?alias=a").status_code == 403
        assert client.post("/api/v1/reprice", {}, format="json").status_code == 403
    assert key.post("/api/v1/reprice", {}, format="json").json()["detail"].startswith("API keys are read-only")
    assert outsider.post("/api/v1/prices?project=acme", body, format="json").status_code == 403
    assert key.get("/api/v1/prices").status_code == 200 and finance.get("/api/v1/aliases").status_code == 200
    assert not ModelPrice.objects.exists()


def test_someone_in_several_projects_must_name_the_project_to_write(acme, globex, person) -> None:  # noqa: ANN001
    admin = person(acme, "admin")
    from costwatch.projects.services import set_member

    set_member(globex, admin, "admin")
    client = _user_client(admin)
    response = client.post("/api/v1/reprice", {}, format="json")
    assert response.status_code == 400 and "?project=" in response.json()["detail"]
    assert client.post("/api/v1/reprice?project=globex", {}, format="json").json()["project"] == "globex"


def test_aliases_are_added_listed_and_removed(default_catalog, acme, globex, person, globex_read_key) -> None:  # noqa: ANN001
    client = _user_client(person(acme, "admin"))
    created = client.post("/api/v1/aliases", {"alias": "prod-gpt4o", "model": "gpt-4o"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["created"] is True and "--model prod-gpt4o" in created.json()["reprice"]
    changed = client.post("/api/v1/aliases", {"alias": "prod-gpt4o", "model": "gpt-4o-mini"}, format="json")
    assert changed.status_code == 200 and changed.json()["model"] == "gpt-4o-mini"
    assert client.get("/api/v1/aliases").json()["results"] == [{"alias": "prod-gpt4o", "model": "gpt-4o-mini"}]
    assert _key_client(globex_read_key).get("/api/v1/aliases").json()["results"] == []
    assert client.delete("/api/v1/aliases?alias=prod-gpt4o").status_code == 204
    assert client.delete("/api/v1/aliases", {"alias": "prod-gpt4o"}, format="json").status_code == 404
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"alias": "prod", "model": "gpt-4o-2024-08-06"}, "did you mean 'gpt-4o'"),
        ({"alias": "prod", "model": "nothing-like-it"}, "not a catalog model"),
        ({"alias": "", "model": "gpt-4o"}, "alias and model are both required"),
        ({"alias": "prod", "model": "gpt-4o", "note": "x"}, "unknown field(s) note"),
    ],
)
def test_bad_aliases_get_400(default_catalog, acme, person, body: dict, needle: str) -> None:  # noqa: ANN001
    response = _user_client(person(acme, "admin")).post("/api/v1/aliases", body, format="json")
    assert response.status_code == 400 and needle in response.json()["detail"]


def test_prices_can_list_the_catalog_for_one_model(default_catalog, acme_read_key) -> None:
    response = _key_client(acme_read_key).get(
        "/api/v1/prices", {"scope": "catalog", "model": "gpt-4o", "provider": "openai", "service_tier": "standard"}
    )
    rows = response.json()["results"]
    assert [(r["effective_from"], r["input"]) for r in rows] == [("2024-05-13", "5"), ("2024-10-02", "2.5")]
    tiers = _key_client(acme_read_key).get(
        "/api/v1/prices", {"scope": "catalog", "model": "gpt-4o", "provider": "openai"}
    )
    assert {r["service_tier"] for r in tiers.json()["results"]} == {"standard", "priority", "fast", "batch"}
    assert _key_client(acme_read_key).get("/api/v1/prices", {"scope": "everything"}).status_code == 400


def test_reprice_api_rejects_bad_arguments(acme, person) -> None:  # noqa: ANN001
    client = _user_client(person(acme, "admin"))
    assert "not a date" in client.post("/api/v1/reprice", {"since": "soon"}, format="json").json()["detail"]
    assert client.post("/api/v1/reprice", {"model": 5}, format="json").status_code == 400
    assert client.post("/api/v1/reprice", {"until": "x"}, format="json").status_code == 400


def test_schema_documents_the_pricing_endpoints(client) -> None:  # noqa: ANN001
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    for path in ("/api/v1/estimate", "/api/v1/reprice", "/api/v1/prices", "/api/v1/aliases"):
        assert path in schema["paths"]
    assert "delete" in schema["paths"]["/api/v1/aliases"]
    assert "output_tokens" in schema["components"]["schemas"]["EstimateRequest"]["properties"]
