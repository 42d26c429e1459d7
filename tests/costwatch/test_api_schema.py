"""The OpenAPI schema is what the API does: schemathesis fuzzes every /api/v1 operation on a live server.

Three callers, as the issue asks: a project read key, a finance person's session and an admin's
session (with its CSRF token, so writes reach the views). Checks: no 5xx, every status code and
content type documented, every body valid against its documented schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.frontend.demo_data import seed_weeks

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CSRF = "k" * 32  # an unmasked CSRF secret: Django accepts it as cookie and header alike


@pytest.fixture
def acme_world(acme, globex):  # noqa: ANN001, ANN201 - pytest fixture
    from django.contrib.auth import get_user_model

    from alerts.models import Channel, Rule
    from costwatch.projects.services import issue_key, set_member

    users = get_user_model().objects
    admin, finance = users.create_user("ada"), users.create_user("fin")
    set_member(acme, admin, "admin")
    set_member(acme, finance, "finance")
    seed_weeks(acme, days=3, requests_per_day=8)
    hook = Channel.objects.create(project=acme, kind="webhook", name="hook", config={"url": "http://127.0.0.1:9/"})
    rule = Rule.objects.create(project=acme, name="cap", kind="budget", period="day", amount="1")
    rule.channels.add(hook)
    Rule.objects.create(project=acme, name="lonely", kind="anomaly")
    return {"admin": admin, "finance": finance, "read_key": issue_key(acme, "read").secret}


def session_headers(user) -> list[str]:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}"
    return ["-H", f"Cookie: {cookie}", "-H", f"X-CSRFToken: {CSRF}"]


def run_schemathesis(base: str, headers: list[str], tmp_path: Path, name: str) -> dict:
    report = tmp_path / f"{name}.json"
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{base}/api/schema/",
        "--url",
        base,
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("COSTWATCH_SCHEMATHESIS_EXAMPLES", "15"),
        "--seed",
        "16",
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *headers,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert result.returncode == 0, (
        f"schemathesis found problems as {name}:\n{result.stdout[-20000:]}\n{result.stderr[-3000:]}"
    )
    return {"stdout": result.stdout, "report": json.loads(report.read_text()) if report.exists() else None}


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["read_key", "finance", "admin"])
def test_every_operation_keeps_its_schema_and_never_answers_5xx(live_server, acme_world, tmp_path, who) -> None:  # noqa: ANN001
    headers = (
        ["-H", f"Authorization: Bearer {acme_world['read_key']}"]
        if who == "read_key"
        else session_headers(acme_world[who])
    )
    outcome = run_schemathesis(live_server.url, headers, tmp_path, who)
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = sum(
        len([m for m in ops if m in {"get", "post", "patch", "delete", "put"}])
        for path, ops in schema["paths"].items()
        if path.startswith("/api/v1/")
    )
    assert operations >= 29
    # Every operation was exercised (none skipped or errored before sending).
    assert f"{operations} selected" in outcome["stdout"] or f"{operations} total" in outcome["stdout"], outcome[
        "stdout"
    ][-3000:]
