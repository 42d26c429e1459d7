"""Importing the providers' cost CSV exports: page/API upload and manage.py importbill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from costwatch.billing import services
from costwatch.billing.models import BilledCost, BilledDay
from costwatch.billing.sources import SourceError
from costwatch.projects.models import Role
from costwatch.projects.services import set_member

pytestmark = pytest.mark.django_db

# The layout of OpenAI's cost export (Usage → Export), including a day with no cost.
OPENAI_CSV = """start_time,end_time,start_time_iso,end_time_iso,amount_value,amount_currency,line_item,project_id,organization_id,organization_name
1794960000,1795046400,2026-11-18T00:00:00+00:00,2026-11-19T00:00:00+00:00,0.8958740000000000,usd,"gpt-4o-2024-08-06, input",proj_a,org-1,Acme
1794960000,1795046400,2026-11-18T00:00:00+00:00,2026-11-19T00:00:00+00:00,1.5,usd,"gpt-4o-2024-08-06, output",proj_a,org-1,Acme
1795046400,1795132800,2026-11-19T00:00:00+00:00,2026-11-20T00:00:00+00:00,,,,,,
"""

ANTHROPIC_CSV = """usage_date_utc,workspace_id,description,model,cost_usd
2026-11-18,wrkspc_a,Claude Sonnet 4.5 Usage - Input Tokens,claude-sonnet-4-5-20250929,0.75
2026-11-18,wrkspc_a,Claude Sonnet 4.5 Usage - Output Tokens,claude-sonnet-4-5-20250929,1.125
"""


def _bill(project, provider: str) -> dict[date, Decimal]:  # noqa: ANN001
    out: dict[date, Decimal] = {}
    for day in BilledDay.objects.filter(project=project, provider=provider):
        out[day.day] = sum((c.amount for c in day.lines.all()), Decimal(0))
    return out


def test_openai_export_is_read_exactly_and_a_day_without_cost_is_billed_zero(acme) -> None:  # noqa: ANN001
    result = services.import_csv(acme, "openai", OPENAI_CSV, filename="costs.csv")
    assert result.days == [date(2026, 11, 18), date(2026, 11, 19)]
    assert result.total_by_currency == {"USD": Decimal("2.3958740000000000")}
    assert _bill(acme, "openai") == {date(2026, 11, 18): Decimal("2.395874"), date(2026, 11, 19): Decimal(0)}
    assert set(BilledCost.objects.values_list("model", flat=True)) == {"gpt-4o-2024-08-06"}


def test_importing_the_same_file_again_changes_nothing(acme) -> None:  # noqa: ANN001
    services.import_csv(acme, "anthropic", ANTHROPIC_CSV)
    services.import_csv(acme, "anthropic", ANTHROPIC_CSV)
    assert _bill(acme, "anthropic") == {date(2026, 11, 18): Decimal("1.875")}
    assert BilledCost.objects.count() == 2


def test_a_currency_other_than_usd_is_kept_as_given(acme) -> None:  # noqa: ANN001
    services.import_csv(acme, "anthropic", "date,amount,currency,description\n2026-11-18,12345,EUR,Claude usage\n")
    line = BilledCost.objects.get()
    assert (line.amount, line.currency) == (Decimal("123.45"), "EUR")


@pytest.mark.parametrize(
    "text, message",
    [
        ("day,cost\n2026-11-18,1\n", "needs the columns start_time_iso"),
        (OPENAI_CSV.replace("1.5,usd", "1.5x,usd"), "row 3: amount_value: '1.5x' is not an amount"),
        (OPENAI_CSV.replace("2026-11-18T00:00:00+00:00,2026-11-19", "yesterday,2026-11-19", 1), "row 2: start time"),
        ("start_time,amount_value\n1794960000,1\n99999999999999999999,1\n", "row 3: start time"),  # past year 9999
        ("start_time_iso,amount_value\n0001-01-01T00:00:00+05:00,1\n", "row 2: start time"),  # before year 1 in UTC
    ],
)
def test_a_bad_file_is_refused_whole_with_the_row_and_keeps_what_was_there(acme, text: str, message: str) -> None:  # noqa: ANN001
    services.import_csv(acme, "anthropic", ANTHROPIC_CSV)
    with pytest.raises(SourceError, match=message):
        services.import_csv(acme, "openai", text)
    assert not BilledDay.objects.filter(provider="openai").exists()
    assert _bill(acme, "anthropic") == {date(2026, 11, 18): Decimal("1.875")}


def test_importbill_command(acme, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "openai-costs.csv"
    path.write_text(OPENAI_CSV)
    call_command("importbill", str(path), project="acme", provider="openai")
    assert "imported 2 lines for 2 UTC days (2026-11-18 .. 2026-11-19): 2.395874 USD" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("importbill", str(bad), project="acme", provider="anthropic")
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("importbill", str(path), project="nope", provider="openai")


def _member(project, role: str) -> APIClient:  # noqa: ANN001
    user = get_user_model().objects.create_user(f"{role}-{project.slug}", password="pw-123456")
    set_member(project, user, role)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_upload_through_the_api_needs_finance_or_admin(acme, globex, acme_read_key) -> None:  # noqa: ANN001
    upload = lambda: SimpleUploadedFile("costs.csv", OPENAI_CSV.encode(), "text/csv")  # noqa: E731
    finance = _member(acme, Role.FINANCE)
    response = finance.post(
        "/api/v1/billing/imports?project=acme", {"provider": "openai", "file": upload()}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert response.json()["days"] == ["2026-11-18", "2026-11-19"]
    assert response.json()["total_by_currency"] == {"USD": "2.395874"}
    assert (
        _member(acme, Role.ONCALL)
        .post("/api/v1/billing/imports?project=acme", {"provider": "openai", "file": upload()}, format="multipart")
        .status_code
        == 403
    )
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    assert (
        keyed.post("/api/v1/billing/imports", {"provider": "openai", "file": upload()}, format="multipart").status_code
        == 403
    )
    bad = finance.post(
        "/api/v1/billing/imports?project=acme",
        {"provider": "openai", "file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n")},
        format="multipart",
    )
    assert bad.status_code == 400 and "start_time_iso" in bad.json()["file"]
    assert not BilledDay.objects.filter(project=globex).exists()
