"""CSV export of attacker-controlled keys: every cell quoted, no formula, one row per key."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from costwatch.display import csv_cell
from costwatch.usage.rollups import recompute_dirty
from tests.conftest import REPO

CASE = REPO.parent / "shared" / "cases" / "reliability" / "csv_cr_user.json"

pytestmark = pytest.mark.django_db


def test_a_bare_cr_in_a_user_id_stays_one_quoted_neutral_cell(acme, acme_ingest_key, acme_read_key) -> None:
    body = CASE.read_bytes()
    response = Client().post("/v1/traces", body, content_type="application/json", HTTP_X_COSTWATCH_KEY=acme_ingest_key)
    assert response.status_code == 200, response.content
    recompute_dirty()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_read_key}")
    start = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"]
    from datetime import datetime, timezone

    day = datetime.fromtimestamp(int(start) / 1e9, tz=timezone.utc).date().isoformat()
    response = client.get(
        "/api/v1/costs", {"group_by": "user", "format": "csv", "start": f"{day}T00:00:00Z", "end": f"{day}T23:59:59Z"}
    )
    assert response.status_code == 200
    text = response.content.decode()
    lines = text.split("\r\n")
    assert lines[-1] == "" and len(lines) == 3, repr(text)  # header, one row, final line break
    assert "\r" not in lines[1] and "\n" not in lines[1]
    assert all(cell.startswith('"') and cell.endswith('"') for cell in lines[1].split(","))
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["key"] == "victim<U+000D>=2+2"
    assert row["llm_calls"] == "1"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),  # text that looks like a signed number is still text
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'<U+0009>=1"),
        ("a\nb", "a<U+000A>b"),
        ("-0.5", "-0.5"),
        ("evil\u202e", "evil<U+202E>"),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_cells_are_neutralized(value: object, cell: str) -> None:
    assert csv_cell(value) == cell
