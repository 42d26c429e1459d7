"""Reconciliation: spans sent through the real ingest, bills imported, compared per UTC provider-day."""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from costwatch.billing import services
from tests.billing.conftest import OPENAI_BILL, llm_span, send_spans, utc

pytestmark = pytest.mark.django_db


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_reconciliation_per_utc_provider_day(acme_calls, acme_read_key) -> None:  # noqa: ANN001
    response = _client(acme_read_key).get("/api/v1/reconciliation?start=2026-11-18&end=2026-11-20")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["days_are"] == "UTC"
    rows = {(r["day"], r["provider"]): r for r in body["results"]}
    assert sorted(rows) == [
        ("2026-11-18", "anthropic"),
        ("2026-11-18", "openai"),
        ("2026-11-19", "openai"),
        ("2026-11-20", "anthropic"),
    ]
    openai = rows[("2026-11-18", "openai")]
    assert openai["billed"] == "0.0115" and openai["currency"] == "USD"
    assert openai["estimated_usd"] == "0.0105"
    assert openai["difference_usd"] == "0.001"
    assert openai["drift_percent"] == "8.7"
    assert openai["llm_calls"] == 3 and openai["unpriced_calls"] == 1
    assert openai["estimate_complete"] is False  # the unpriced call explains part of the gap
    assert openai["status"] == "ok" and openai["bill_origin"] == "csv"
    anthropic = rows[("2026-11-18", "anthropic")]
    assert (
        anthropic["billed"],
        anthropic["estimated_usd"],
        anthropic["difference_usd"],
        anthropic["drift_percent"],
    ) == ("0.0045", "0.0045", "0", "0")
    assert anthropic["estimate_complete"] is True and anthropic["llm_calls"] == 1
    quiet = rows[("2026-11-19", "openai")]  # billed nothing, no calls
    assert (quiet["billed"], quiet["estimated_usd"], quiet["difference_usd"], quiet["drift_percent"]) == (
        "0",
        "0",
        "0",
        "0",
    )
    billed_only = rows[("2026-11-20", "anthropic")]
    assert (billed_only["estimated_usd"], billed_only["llm_calls"], billed_only["difference_usd"]) == ("0", 0, "0.25")
    assert billed_only["drift_percent"] == "100"


def test_by_model_lines_match_the_bill_model_names(acme_calls, acme_read_key) -> None:  # noqa: ANN001
    body = (
        _client(acme_read_key)
        .get("/api/v1/reconciliation?start=2026-11-18&end=2026-11-18&provider=openai&by_model=true")
        .json()
    )
    (row,) = body["results"]
    models = {m["model"]: m for m in row["models"]}
    assert models["gpt-4o"]["billed"] == "0.0115" and models["gpt-4o"]["estimated_usd"] == "0.0105"
    assert models["gpt-4o"]["line_items"] == ["gpt-4o, input", "gpt-4o, output"]
    unpriced = models["my-finetune-without-price"]
    assert unpriced["billed"] is None and unpriced["estimated_usd"] is None and unpriced["unpriced_calls"] == 1


def test_a_day_whose_calls_are_all_unpriced_has_no_difference(default_catalog, acme, acme_ingest_key) -> None:  # noqa: ANN001
    send_spans(
        acme_ingest_key,
        [llm_span(7, 7, utc(18, 10), system="openai", model="unknown-model-x", input_tokens=5, output_tokens=5)],
    )
    services.import_csv(acme, "openai", OPENAI_BILL)
    (row,) = [r for r in services.reconcile(acme, date(2026, 11, 18), date(2026, 11, 18)) if r.provider == "openai"]
    assert row.estimate.cost_usd is None and row.difference is None and row.drift_percent is None
    assert row.status == "estimate_unknown"


def test_a_bill_in_another_currency_is_shown_not_compared(acme) -> None:  # noqa: ANN001
    services.import_csv(acme, "anthropic", "date,amount,currency\n2026-11-18,1000,EUR\n")
    (row,) = services.reconcile(acme, date(2026, 11, 18), date(2026, 11, 18))
    assert (row.billed, row.currency, row.difference, row.status) == (10, "EUR", None, "not_usd")


def test_tenants_and_bad_parameters(acme_calls, globex_read_key, acme_read_key) -> None:  # noqa: ANN001
    assert (
        _client(globex_read_key)
        .get("/api/v1/reconciliation?start=2026-11-18&end=2026-11-20")
        .json()["results"][0]["billed"]
        is None
    )  # globex has calls, no bill, and never sees acme's
    client = _client(acme_read_key)
    for query, field in [
        ("start=yesterday", "start"),
        ("provider=azure", "provider"),
        ("start=2026-11-20&end=2026-11-18", "detail"),
        ("start=2020-01-01&end=2026-01-01", "detail"),
        ("start=2026-01-01&end=2026-11-01&by_model=true", "detail"),
    ]:
        response = client.get(f"/api/v1/reconciliation?{query}")
        assert response.status_code == 400 and field in response.json(), (query, response.content)
    assert APIClient().get("/api/v1/reconciliation").status_code in (401, 403)
