"""Rollup lag: time from an export being committed to its request showing in the rollups.

Starts a real Celery worker and beat (default settings: beat every COSTWATCH_ROLLUP_INTERVAL_SECONDS,
5 s) against DATABASE_URL / CELERY_BROKER_URL, keeps a steady background load of exports
going, and sends probe exports whose trace id it then waits for in RequestRollup.

    .venv/bin/python bench/rollup_lag.py --project bench --probes 20 --load-spans-per-second 200
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _django import REPO, setup


def _export(spans: int, model: str = "gpt-4o-mini"):  # noqa: ANN202 - ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    trace_id = secrets.token_bytes(16)
    now = time.time_ns()
    for _ in range(spans):
        span = scope.spans.add(
            trace_id=trace_id,
            span_id=secrets.token_bytes(8),
            name=f"chat {model}",
            kind=3,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 10**9,
        )
        for key, value in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", model),
            ("enduser.id", f"user-{secrets.randbelow(1000)}"),
        ):
            span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
        for key, value in (("gen_ai.usage.input_tokens", 900), ("gen_ai.usage.output_tokens", 120)):
            span.attributes.append(KeyValue(key=key, value=AnyValue(int_value=value)))
    return request, trace_id.hex()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="bench")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--load-spans-per-second", type=int, default=200)
    args = parser.parse_args()
    setup()
    from django.db import connection

    from costwatch.projects.models import Project
    from costwatch.projects.services import create_project
    from costwatch.usage.models import RequestRollup
    from ingest.services import ingest_export

    project = Project.objects.filter(slug=args.project).first() or create_project(args.project)
    env = dict(os.environ)
    log = open(Path(os.environ.get("COSTWATCH_VAR_DIR", REPO / "var")) / "rollup_lag.log", "wb")  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "costwatch", kind, "--loglevel", "WARNING"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for kind in ("worker", "beat")
    ]
    stop = threading.Event()

    def background_load() -> None:
        while not stop.is_set():
            began = time.monotonic()
            ingest_export(project, _export(max(1, args.load_spans_per_second // 10))[0])
            stop.wait(max(0.0, 0.1 - (time.monotonic() - began)))
        connection.close()

    loader = threading.Thread(target=background_load, daemon=True)
    lags: list[float] = []
    try:
        time.sleep(5)  # worker and beat start
        loader.start()
        time.sleep(10)  # reach steady state
        for _ in range(args.probes):
            request, trace_id = _export(3, model="gpt-4o")
            ingest_export(project, request)
            committed = time.monotonic()
            while not RequestRollup.objects.filter(project=project, trace_id=trace_id).exists():
                if time.monotonic() - committed > 120:
                    raise SystemExit(f"probe {trace_id} not rolled up after 120 s")
                time.sleep(0.05)
            lags.append(time.monotonic() - committed)
            time.sleep(secrets.randbelow(1000) / 1000)
    finally:
        stop.set()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    lags.sort()
    print(f"probes={len(lags)} background load={args.load_spans_per_second} spans/s")
    print(
        f"rollup lag: p50={statistics.median(lags):.2f}s p95={lags[int(len(lags) * 0.95) - 1]:.2f}s max={lags[-1]:.2f}s"
    )


if __name__ == "__main__":
    main()
