"""The Bills page: reconciliation table and chart, billing sources (admin) and CSV import (finance)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from costwatch.billing import services
from costwatch.billing.models import BilledDay, BillingSource

pytestmark = pytest.mark.django_db

CSV = """start_time_iso,amount_value,amount_currency,line_item
2026-11-18T00:00:00+00:00,1.25,usd,"gpt-4o, output"
"""


def test_the_page_shows_billed_against_estimated_with_a_chart(people, acme) -> None:  # noqa: ANN001
    services.import_csv(acme, "openai", CSV)
    services.import_csv(acme, "anthropic", "date,amount,currency\n2026-11-18,500,EUR\n")
    response = people.client("finance").get("/p/acme/reconciliation/?start=2026-11-17&end=2026-11-19")
    assert response.status_code == 200
    html = response.content.decode()
    assert "$1.25" in html and "5 EUR" in html and "not converted" in html
    chart = json.loads(
        re.search(r'<script id="reconciliation-chart" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    assert chart["labels"] == ["2026-11-17", "2026-11-18", "2026-11-19"]
    series = {d["label"]: d["data"] for d in chart["datasets"]}
    assert series["openai billed"] == [None, 1.25, None]
    assert series["openai estimated"] == [None, 0.0, None]
    assert series["anthropic billed"] == [None, None, None]  # EUR is not drawn on the USD axis
    assert "Add a billing source" not in html  # finance cannot manage admin keys
    assert "Import a cost CSV" in html


def test_admin_adds_a_source_whose_key_is_never_shown_again(people, acme) -> None:  # noqa: ANN001
    client = people.client("admin")
    response = client.post(
        "/p/acme/reconciliation/sources/",
        {
            "provider": "anthropic",
            "name": "Claude org",
            "admin_key": "sk-ant-admin01-topsecret-WXYZ",
            "scope_ids": "wrkspc_a, wrkspc_b",
            "base_url": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "topsecret" not in html and "…WXYZ" in html and "wrkspc_a, wrkspc_b" in html
    source = BillingSource.objects.get(project=acme)
    assert source.scope_ids == ["wrkspc_a", "wrkspc_b"] and "topsecret" not in source.encrypted_key
    BillingSource.objects.filter(pk=source.pk).update(next_pull_at=None)
    pulled = client.post(f"/p/acme/reconciliation/sources/{source.pk}/pull/", follow=True)
    assert "Pull of Claude org queued" in pulled.content.decode()
    assert services.claim_due_sources() == [source.pk]  # what the worker's pull_due_bills claims next
    client.post(f"/p/acme/reconciliation/sources/{source.pk}/revoke/")
    source.refresh_from_db()
    assert source.revoked_at is not None and source.encrypted_key == ""
    missing = client.post("/p/acme/reconciliation/sources/", {"provider": "openai", "admin_key": ""})
    assert missing.status_code == 400


def test_csv_upload_by_finance_and_refusals(people, acme) -> None:  # noqa: ANN001
    response = people.client("finance").post(
        "/p/acme/reconciliation/imports/",
        {"provider": "openai", "file": SimpleUploadedFile("costs.csv", CSV.encode())},
        follow=True,
    )
    assert "Imported 1 lines for 1 UTC days (1.25 USD)" in response.content.decode()
    bad = people.client("finance").post(
        "/p/acme/reconciliation/imports/",
        {"provider": "openai", "file": SimpleUploadedFile("costs.csv", b"a,b\n1,2\n")},
    )
    assert bad.status_code == 400 and "Nothing was imported" in bad.content.decode()
    assert BilledDay.objects.filter(project=acme).count() == 1
    assert (
        people.client("oncall")
        .post(
            "/p/acme/reconciliation/imports/",
            {"provider": "openai", "file": SimpleUploadedFile("costs.csv", CSV.encode())},
        )
        .status_code
        == 403
    )
    assert people.client("oncall").post("/p/acme/reconciliation/sources/", {}).status_code == 403
    assert people.client("outsider").get("/p/acme/reconciliation/").status_code == 404


def test_a_drift_rule_is_created_from_the_rules_page(people, acme) -> None:  # noqa: ANN001
    from alerts.models import Rule

    response = people.client("oncall").post(
        "/p/acme/alerts/rules/new/",
        {
            "name": "bill drift",
            "kind": "drift",
            "scope": "project",
            "drift_percent": "5",
            "drift_usd": "1",
            "drift_days": "3",
            "drift_provider": "openai",
            "repeat_interval_minutes": "60",
            "enabled": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    rule = Rule.objects.get(project=acme, name="bill drift")
    assert (rule.kind, rule.drift_percent, rule.drift_usd, rule.drift_provider) == ("drift", 5, 1, "openai")
    assert "openai's bill vs. estimate per UTC day above 5 % and $1.00" in response.content.decode()
    refused = people.client("oncall").post(
        "/p/acme/alerts/rules/new/",
        {"name": "no threshold", "kind": "drift", "scope": "project", "repeat_interval_minutes": "60"},
    )
    assert refused.status_code == 400 and "drift_percent, drift_usd or both" in refused.content.decode()
