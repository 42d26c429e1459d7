"""Local HTTP servers standing in for the providers' cost APIs, and spans sent through real ingest."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass
class Seen:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    at: float

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON-able; raw bytes/str are sent as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ProviderServer:
    """A cost API on 127.0.0.1: ``answer(seen)`` builds each reply; ``queued`` replies go first."""

    server: ThreadingHTTPServer
    answer: Callable[[Seen], Answer]
    queued: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


def start_provider_server(answer: Callable[[Seen], Answer]) -> ProviderServer:
    provider: ProviderServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            parts = urlsplit(self.path)
            seen = Seen(
                parts.path,
                parse_qsl(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                time.monotonic(),
            )
            provider.seen.append(seen)
            reply = provider.queued.pop(0) if provider.queued else provider.answer(seen)
            body = reply.body
            data = (
                body
                if isinstance(body, bytes)
                else body.encode()
                if isinstance(body, str)
                else json.dumps(body).encode()
            )
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    provider = ProviderServer(server, answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return provider


@pytest.fixture
def provider_server() -> Iterator[Callable[[Callable[[Seen], Answer]], ProviderServer]]:
    started: list[ProviderServer] = []

    def start(answer: Callable[[Seen], Answer]) -> ProviderServer:
        started.append(start_provider_server(answer))
        return started[-1]

    yield start
    for s in started:
        s.server.shutdown()
        s.server.server_close()


@pytest.fixture(autouse=True)
def fast_billing(settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_BILLING_BACKOFF_SECONDS = 0.05
    settings.COSTWATCH_BILLING_MAX_ATTEMPTS = 3
    settings.COSTWATCH_BILLING_TIMEOUT_SECONDS = 5.0


def _attr(key: str, value: Any) -> dict[str, Any]:  # noqa: ANN401
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def llm_span(
    trace: int, span: int, at: datetime, *, system: str, model: str, input_tokens: int, output_tokens: int
) -> dict[str, Any]:
    """One OTel GenAI chat span (current semantic conventions) in OTLP/JSON."""
    start = int(at.timestamp() * 1_000_000_000)
    return {
        "traceId": f"{trace:032x}",
        "spanId": f"{span:016x}",
        "name": f"chat {model}",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000_000),
        "attributes": [
            _attr("gen_ai.operation.name", "chat"),
            _attr("gen_ai.system", system),
            _attr("gen_ai.request.model", model),
            _attr("gen_ai.response.model", model),
            _attr("gen_ai.usage.input_tokens", input_tokens),
            _attr("gen_ai.usage.output_tokens", output_tokens),
        ],
    }


def send_spans(ingest_key: str, spans: list[dict[str, Any]]) -> None:
    """POST the spans to /v1/traces through the real ingest view, then run the rollup job."""
    from django.test import Client

    from costwatch.usage.rollups import recompute_dirty

    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "shop")]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }
    response = Client().post(
        "/v1/traces", data=json.dumps(body), content_type="application/json", HTTP_X_COSTWATCH_KEY=ingest_key
    )
    assert response.status_code == 200, response.content
    assert b"rejected" not in response.content or json.loads(response.content).get("partialSuccess", {}).get(
        "rejectedSpans", "0"
    ) in ("0", 0)
    while recompute_dirty():
        pass


OPENAI_BILL = """start_time_iso,amount_value,amount_currency,line_item,project_id
2026-11-18T00:00:00+00:00,0.005,usd,"gpt-4o, input",proj_a
2026-11-18T00:00:00+00:00,0.0065,usd,"gpt-4o, output",proj_a
2026-11-19T00:00:00+00:00,,,,
"""
ANTHROPIC_BILL = """usage_date_utc,description,model,cost_usd
2026-11-18,Claude Sonnet 4.5 Usage - Input Tokens,claude-sonnet-4-5,0.003
2026-11-18,Claude Sonnet 4.5 Usage - Output Tokens,claude-sonnet-4-5,0.0015
2026-11-20,Claude Sonnet 4.5 Usage - Output Tokens,claude-sonnet-4-5,0.25
"""


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def acme_calls(default_catalog, acme, acme_ingest_key, globex, globex_ingest_key):  # noqa: ANN001, ANN201
    send_spans(
        acme_ingest_key,
        [
            # $0.007 and $0.0035 (gpt-4o: $2.50 in / $10 out per 1M). 23:30 UTC is already Nov 19 in
            # Berlin (acme's zone): the bill's day is UTC, so it belongs to Nov 18 here.
            llm_span(1, 1, utc(18, 10), system="openai", model="gpt-4o", input_tokens=2000, output_tokens=200),
            llm_span(2, 2, utc(18, 23, 30), system="openai", model="gpt-4o", input_tokens=1000, output_tokens=100),
            llm_span(
                3, 3, utc(18, 12), system="openai", model="my-finetune-without-price", input_tokens=10, output_tokens=10
            ),
            # Claude Sonnet 4.5: $3 in / $15 out per 1M → $0.0045.
            llm_span(
                4, 4, utc(18, 9), system="anthropic", model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100
            ),
            # Another provider's calls are not on these bills.
            llm_span(
                5,
                5,
                utc(18, 9),
                system="aws.bedrock",
                model="anthropic.claude-sonnet-4-5-20250929-v1:0",
                input_tokens=1000,
                output_tokens=100,
            ),
        ],
    )
    send_spans(
        globex_ingest_key,
        [llm_span(6, 6, utc(18, 10), system="openai", model="gpt-4o", input_tokens=900000, output_tokens=0)],
    )
    from costwatch.billing import services

    services.import_csv(acme, "openai", OPENAI_BILL)
    services.import_csv(acme, "anthropic", ANTHROPIC_BILL)
    return acme
