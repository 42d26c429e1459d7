"""Alert latency: from POSTing the span that breaks a budget to the webhook reaching a local receiver.

Runs a real Celery worker and a real Celery beat (as `make run` does) with the default intervals
(rollups every 5 s, alert evaluation every 30 s), a per-user daily budget rule with a webhook channel
pointing at an HTTP server in this process, and sends each trial's span through /v1/traces.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \
        .venv/bin/python bench/alert_latency.py --trials 8

The database is migrated first; the bench project it creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = threading.Condition()

    def record(self, group: str) -> None:
        with self.changed:
            self.at.setdefault(group, time.monotonic())
            self.changed.notify_all()

    def wait(self, group: str, timeout: float) -> float | None:
        with self.changed:
            self.changed.wait_for(lambda: group in self.at, timeout=timeout)
            return self.at.get(group)


def start_receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.end_headers()
            payload = json.loads(body)
            if payload.get("event") == "firing":
                arrivals.record(payload.get("group") or "")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def span_payload(user: str) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("bench").start_as_current_span(
        "chat gpt-4o",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 20000,
            "gen_ai.usage.output_tokens": 2000,
            "enduser.id": user,
        },
    ):
        pass
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def start_services(var: Path) -> list[subprocess.Popen]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COSTWATCH_ALERT_INTERVAL_SECONDS", "COSTWATCH_ROLLUP_INTERVAL_SECONDS")
    }
    env["COSTWATCH_VAR_DIR"] = str(var)  # private beat schedule (and filesystem broker, if no CELERY_BROKER_URL)
    py = sys.executable
    commands = [
        [py, "-m", "celery", "-A", "costwatch", "worker", "--loglevel", "WARNING", "--concurrency", "2"],
        [
            py,
            "-m",
            "celery",
            "-A",
            "costwatch",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(var / "celerybeat-schedule"),
        ],
    ]
    log = (var / "services.log").open("ab")
    return [
        subprocess.Popen(c, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for c in commands
    ]


def stop_services(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one notification")
    args = parser.parse_args()

    import django

    from costwatch.embedded import use_local_defaults

    use_local_defaults()  # without DATABASE_URL: the embedded PostgreSQL, as manage.py does
    django.setup()
    from decimal import Decimal

    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from alerts.models import Channel, Rule
    from costwatch.projects.services import create_project, issue_key

    call_command("migrate", interactive=False, verbosity=0)
    call_command("loaddefaultprices", verbosity=0)
    arrivals = Arrivals()
    receiver = start_receiver(arrivals)
    project = create_project(f"bench-alerts-{secrets.token_hex(3)}", timezone_name="UTC")
    ingest_key = issue_key(project, "ingest").secret
    channel = Channel.objects.create(
        project=project,
        kind="webhook",
        name="bench receiver",
        config={"url": f"http://127.0.0.1:{receiver.server_address[1]}/"},
    )
    rule = Rule.objects.create(
        project=project, name="bench per-user daily", kind="budget", scope="user", period="day", amount=Decimal("0.01")
    )
    rule.channels.set([channel])
    print(
        f"rollup interval {settings.COSTWATCH_ROLLUP_INTERVAL_SECONDS}s, "
        f"alert interval {settings.COSTWATCH_ALERT_INTERVAL_SECONDS}s, broker {settings.CELERY_BROKER_URL.split(':')[0]}"
    )

    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        services = start_services(Path(tmp))
        try:
            time.sleep(10)  # worker and beat start; the trials' phase against beat is randomised below
            client = Client()
            for trial in range(args.trials):
                time.sleep(random.uniform(0, settings.COSTWATCH_ALERT_INTERVAL_SECONDS))
                user = f"bench-user-{trial}"
                body = span_payload(user)
                started = time.monotonic()
                response = client.post(
                    "/v1/traces",
                    data=body,
                    content_type="application/x-protobuf",
                    HTTP_AUTHORIZATION=f"Bearer {ingest_key}",
                )
                assert response.status_code == 200, response.content
                arrived = arrivals.wait(user, args.timeout)
                if arrived is None:
                    print(f"trial {trial}: no notification within {args.timeout}s")
                    continue
                latencies.append(arrived - started)
                print(f"trial {trial}: {arrived - started:6.2f} s")
        finally:
            stop_services(services)
            receiver.shutdown()
            project.delete()
    if latencies:
        print(
            f"n={len(latencies)} min {min(latencies):.2f} s, median {statistics.median(latencies):.2f} s, "
            f"mean {statistics.mean(latencies):.2f} s, max {max(latencies):.2f} s"
        )


if __name__ == "__main__":
    main()
