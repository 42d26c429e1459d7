"""Real local receivers (HTTP, SMTP), spend in rollups, and rule/channel factories for alert tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:  # noqa: ANN401
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST; ``replies`` are used in order, then 200."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = receiver.replies.pop(0) if receiver.replies else Reply()
            if reply.delay:
                time.sleep(reply.delay)
            with receiver.arrived:
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                receiver.arrived.notify_all()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender timed out and hung up

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink("127.0.0.1", port)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ANN401
            sink.envelopes.append(envelope)
            sink.messages.append(message_from_bytes(envelope.content))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname=sink.host, port=port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture
def email_to_sink(settings, smtp_sink: SmtpSink) -> SmtpSink:  # noqa: ANN001
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_sink.host
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    return smtp_sink


@pytest.fixture(autouse=True)
def fast_retries(settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS = 2.0
    settings.COSTWATCH_DELIVERY_BACKOFF_SECONDS = 10.0
    settings.COSTWATCH_DELIVERY_BACKOFF_MAX_SECONDS = 60.0
    settings.COSTWATCH_DELIVERY_MAX_ATTEMPTS = 4
    settings.COSTWATCH_PUBLIC_URL = "https://costwatch.example"


def put_spend(project, at: datetime, cost: Decimal | str, *, dimension: str = "total", key: str = "") -> None:  # noqa: ANN001
    """Spend as the rollup job would have stored it: one RollupHour row per (dimension, key, hour)."""
    from costwatch.usage.models import RollupHour

    hour = at.replace(minute=0, second=0, microsecond=0)
    RollupHour.objects.update_or_create(
        project=project, dimension=dimension, key=key, hour=hour, defaults={"cost": Decimal(cost), "llm_calls": 1}
    )


def put_daily_spend(project, day_start: datetime, costs: list[Decimal | str], **kwargs: Any) -> None:  # noqa: ANN001
    """One amount per consecutive day, booked at noon of each day after ``day_start``."""
    for i, cost in enumerate(costs):
        put_spend(project, day_start + timedelta(days=i, hours=12), cost, **kwargs)


def make_channel(project, kind: str = "webhook", **config: Any):  # noqa: ANN001, ANN201
    from alerts.models import Channel
    from alerts.transports import validate_config

    return Channel.objects.create(
        project=project, kind=kind, name=f"{kind} channel", config=validate_config(kind, config)
    )


def make_rule(project, channels: list | None = None, **fields: Any):  # noqa: ANN001, ANN201
    from alerts.models import Rule

    fields.setdefault("name", f"{fields.get('kind', 'budget')} rule")
    fields.setdefault("kind", "budget")
    rule = Rule.objects.create(project=project, **fields)
    rule.channels.set(channels or [])
    return rule


def send_pending(now: datetime) -> list[Any]:
    """What the sweeper task does at ``now``: attempt every due delivery once (oldest due first)."""
    from alerts.deliveries import send_due_deliveries

    return send_due_deliveries(now)


NOW = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
# Attacker-controlled text: what a span can put in a user id that ends up in every channel.
EVIL = "<!channel> Your session expired <http://evil.example/reset|Re-authenticate> & \u202eevil\nSubject: x"


def fire_daily_budget(project, *channels):  # noqa: ANN001, ANN201
    """A $5 daily project budget (warning at 80 %) with $6.50 spent an hour before ``NOW``, evaluated
    at ``NOW``: one breach, one pending delivery per channel; returns the first delivery."""
    from alerts.incidents import evaluate_rules
    from alerts.models import Delivery

    make_rule(project, list(channels), name="Daily budget", period="day", amount=Decimal(5), warn_percents=[80])
    put_spend(project, NOW - timedelta(hours=1), "6.5")
    evaluate_rules(NOW)
    return Delivery.objects.order_by("id").first()


def fire_for_user(project, user: str, *channels) -> None:  # noqa: ANN001
    """A $5 daily budget per user broken by ``user`` ($6.50), evaluated at ``NOW``."""
    from alerts.incidents import evaluate_rules

    make_rule(project, list(channels), name="Per-user budget", scope="user", period="day", amount=Decimal(5))
    put_spend(project, NOW - timedelta(hours=1), "6.5", dimension="user", key=user)
    evaluate_rules(NOW)
