"""/v1/traces under gunicorn, as `make run` and compose serve it: answers a client can read."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import REPO

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[callable]:
    started: list[subprocess.Popen] = []

    def start(**env: str) -> int:
        port = _free_port()
        log = (tmp_path / f"gunicorn-{port}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "costwatch.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                env.pop("TIMEOUT", "30"),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "DATABASE_URL": _database_url(), "COSTWATCH_VAR_DIR": str(tmp_path / "var"), **env},
        )
        started.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return port
            except OSError:
                assert proc.poll() is None, (tmp_path / f"gunicorn-{port}.log").read_text()
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start")

    yield start
    for proc in started:
        os.killpg(proc.pid, 15)
        proc.wait(20)


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_an_oversized_body_from_http_client_gets_the_413_not_a_broken_pipe(gunicorn, acme, acme_ingest_key) -> None:
    port = gunicorn(COSTWATCH_INGEST_MAX_BYTES=str(1024 * 1024))
    body = b'{"resourceSpans": []}' + b" " * (8 * 1024 * 1024)
    status, answer = _post(port, body, {"Content-Type": "application/json", "x-costwatch-key": acme_ingest_key})
    assert status == 413
    assert "exceeds the limit" in answer["message"]
    status, answer = _post(port, body, {"Content-Type": "application/json"})  # an early 401 is readable too
    assert status == 401


def test_an_export_that_cannot_finish_in_time_answers_503_before_gunicorn_kills_the_worker(
    gunicorn, acme, acme_ingest_key
) -> None:
    import psycopg

    from costwatch.usage.models import LlmCall, SpanAttribution

    port = gunicorn(COSTWATCH_INGEST_TIMEOUT_MS="2000", COSTWATCH_WEB_TIMEOUT_SECONDS="6", TIMEOUT="6")
    start = str(int((time.time() - 60) * 1e9))
    span = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": start,
        "endTimeUnixNano": start,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
        ],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    headers = {"Content-Type": "application/json", "x-costwatch-key": acme_ingest_key}
    # Another session holds what the export must write (an administrator's long DDL, say).
    with psycopg.connect(_database_url()) as blocker:
        blocker.execute(f"LOCK TABLE {SpanAttribution._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        response = conn.getresponse()
        took = time.monotonic() - began
        answer = json.loads(response.read())
        conn.close()
        blocker.rollback()
    assert response.status == 503, answer
    assert response.getheader("Retry-After") == "5"
    assert "could not be stored within 2000 ms" in answer["message"]
    assert took < 6, took  # before gunicorn's 6 s timeout would have killed the worker
    assert not LlmCall.objects.filter(project=acme).exists()  # nothing half-stored
    status, _ = _post(port, body, headers)  # the retry succeeds once the lock is gone
    assert status == 200
    assert LlmCall.objects.filter(project=acme).count() == 1
