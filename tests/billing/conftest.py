"""Local HTTP servers standing in for the providers' cost APIs, and spans sent through real ingest."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
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
            seen = Seen(parts.path, parse_qsl(parts.query, keep_blank_values=True),
                        {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
            provider.seen.append(seen)
            reply = provider.queued.pop(0) if provider.queued else provider.answer(seen)
            body = reply.body
            data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
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


def llm_span(trace: int, span: int, at: datetime, *, system: str, model: str, input_tokens: int,
             output_tokens: int) -> dict[str, Any]:
    """One OTel GenAI chat span (current semantic conventions) in OTLP/JSON."""
    start = int(at.timestamp() * 1_000_000_000)
    return {
        "traceId": f"{trace:032x}", "spanId": f"{span:016x}", "name": f"chat {model}", "kind": 3,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000_000),
        "attributes": [
            _attr("gen_ai.operation.name", "chat"), _attr("gen_ai.system", system),
            _attr("gen_ai.request.model", model), _attr("gen_ai.response.model", model),
            _attr("gen_ai.usage.input_tokens", input_tokens), _attr("gen_ai.usage.output_tokens", output_tokens),
        ],
    }


def send_spans(ingest_key: str, spans: list[dict[str, Any]]) -> None:
    """POST the spans to /v1/traces through the real ingest view, then run the rollup job."""
    from django.test import Client

    from costwatch.usage.rollups import recompute_dirty

    body = {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "shop")]},
                               "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]}
    response = Client().post("/v1/traces", data=json.dumps(body), content_type="application/json",
                             HTTP_X_COSTWATCH_KEY=ingest_key)
    assert response.status_code == 200, response.content
    assert b"rejected" not in response.content or json.loads(response.content).get("partialSuccess", {}).get(
        "rejectedSpans", "0") in ("0", 0)
    while recompute_dirty():
        pass
