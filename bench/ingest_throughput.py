"""Ingest throughput over OTLP/HTTP (gunicorn, as `make run` serves /v1/traces) and OTLP/gRPC (rungrpc).

Real servers in their own processes, the stock OpenTelemetry exporters as clients, batches of real
SDK spans (default 512 per export: 128 requests of one SERVER span and three LLM CLIENT spans).
Reports spans/s and the p50/p99 latency of one export() call as the app sees it (encoding included).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/ingest_throughput.py

With DATABASE_URL the script creates (and afterwards drops) a scratch database ``costwatch_bench_ingest``
on that server; without it, an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SCRATCH_DB = "costwatch_bench_ingest"
LLM_SPANS_PER_REQUEST = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scratch_database() -> Iterator[str]:
    server_url = os.environ.get("DATABASE_URL", "").strip()
    if not server_url:
        from costwatch.embedded import embedded_database_url, stop_embedded_database

        root = Path(tempfile.mkdtemp(prefix="costwatch-bench-"))
        try:
            yield embedded_database_url(root)
        finally:
            stop_embedded_database(root)
            shutil.rmtree(root, ignore_errors=True)
        return
    parts = urlsplit(server_url)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{SCRATCH_DB}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{SCRATCH_DB}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextmanager
def running(argv: list[str], env: dict[str, str], ready: Callable[[], bool], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{argv[2]} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _http_ready(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return True
        except OSError as exc:
            return getattr(exc, "code", None) is not None  # any HTTP answer means it is serving

    return ready


def make_batches(count: int, spans_per_export: int) -> list[list]:
    """Real SDK spans, grouped as one BatchSpanProcessor export each: whole requests per batch."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )
    from opentelemetry.trace import SpanKind

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-api", "deployment.environment": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.ingest")
    requests_per_export = max(1, spans_per_export // (1 + LLM_SPANS_PER_REQUEST))
    models = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet-20241022")]
    batches = []
    for b in range(count):
        memory.clear()
        for r in range(requests_per_export):
            route = f"/api/{('chat', 'search', 'summarize', 'checkout')[r % 4]}"
            with tracer.start_as_current_span(
                f"POST {route}",
                kind=SpanKind.SERVER,
                attributes={
                    "http.route": route,
                    "http.request.method": "POST",
                    "enduser.id": f"user-{(b * 7 + r) % 500}",
                    "costwatch.feature": ("assistant", "search", "digest")[r % 3],
                },
            ):
                for c in range(LLM_SPANS_PER_REQUEST):
                    provider_name, model = models[(r + c) % len(models)]
                    with tracer.start_as_current_span(
                        f"chat {model}",
                        kind=SpanKind.CLIENT,
                        attributes={
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": provider_name,
                            "gen_ai.request.model": model,
                            "gen_ai.response.model": model,
                            "gen_ai.response.id": f"resp-{b}-{r}-{c}",
                            "gen_ai.usage.input_tokens": 800 + 37 * c + r,
                            "gen_ai.usage.output_tokens": 120 + 11 * c,
                            "gen_ai.usage.cache_read.input_tokens": 256 if c else 0,
                            "server.address": "api.openai.com" if provider_name == "openai" else "api.anthropic.com",
                        },
                    ):
                        pass
        batches.append(list(memory.get_finished_spans()))
    return batches


@dataclass
class RunResult:
    protocol: str
    spans: int
    seconds: float
    latencies_ms: list[float]
    failures: int

    def line(self) -> str:
        ordered = sorted(self.latencies_ms)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{self.protocol:10s} exports={len(ordered):4d}  spans/s={self.spans / self.seconds:8.0f}  "
            f"p50={statistics.median(ordered):7.1f} ms  p99={p99:7.1f} ms  failures={self.failures}"
        )


def run(protocol: str, make_exporter: Callable[[], object], batches: list[list], clients: int) -> RunResult:
    work: queue.Queue[list] = queue.Queue()
    for batch in batches:
        work.put(batch)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    exporters = [make_exporter() for _ in range(clients)]

    def client(exporter) -> None:  # noqa: ANN001
        from opentelemetry.sdk.trace.export import SpanExportResult

        while True:
            try:
                batch = work.get_nowait()
            except queue.Empty:
                return
            began = time.perf_counter()
            result = exporter.export(batch)
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed)
                failures[0] += result != SpanExportResult.SUCCESS

    threads = [threading.Thread(target=client, args=(e,)) for e in exporters]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for exporter in exporters:
        exporter.shutdown()
    return RunResult(protocol, sum(len(b) for b in batches), seconds, latencies, failures[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", type=int, default=40, help="timed exports per protocol")
    parser.add_argument("--spans", type=int, default=512, help="spans per export")
    parser.add_argument("--clients", type=int, default=2, help="concurrent exporters")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (make run: COSTWATCH_WEB_WORKERS)")
    parser.add_argument("--grpc-workers", type=int, default=8, help="rungrpc threads (COSTWATCH_GRPC_WORKERS)")
    parser.add_argument("--gzip", action="store_true", help="compress exports (both protocols)")
    args = parser.parse_args()

    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    warmup = 2
    print(f"building {2 * (args.exports + warmup)} exports of {args.spans} spans ...", flush=True)
    all_batches = make_batches(2 * (args.exports + warmup), args.spans)
    half = args.exports + warmup
    plan = {"http": all_batches[:half], "grpc": all_batches[half:]}

    with scratch_database() as url, tempfile.TemporaryDirectory(prefix="costwatch-bench-") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "COSTWATCH_VAR_DIR": tmp, "COSTWATCH_LOG_LEVEL": "WARNING"}
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "loaddefaultprices")
        key = dict(line.split("=", 1) for line in _manage(env, "createproject", "bench").split())[
            "COSTWATCH_INGEST_KEY"
        ]
        http_port, grpc_port = _free_port(), _free_port()
        headers = {"x-costwatch-key": key}
        exporters = {
            "http": lambda: HttpExporter(
                endpoint=f"http://127.0.0.1:{http_port}/v1/traces",
                headers=headers,
                timeout=60,
                compression=HttpCompression.Gzip if args.gzip else HttpCompression.NoCompression,
            ),
            "grpc": lambda: GrpcExporter(
                endpoint=f"127.0.0.1:{grpc_port}",
                insecure=True,
                headers=headers,
                timeout=60,
                compression=grpc.Compression.Gzip if args.gzip else grpc.Compression.NoCompression,
            ),
        }
        servers = {
            "http": (
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "costwatch.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{http_port}",
                    "--workers",
                    str(args.web_workers),
                    "--graceful-timeout",
                    "10",
                ],
                _http_ready(http_port),
            ),
            "grpc": (
                [
                    sys.executable,
                    "manage.py",
                    "rungrpc",
                    "--bind",
                    f"127.0.0.1:{grpc_port}",
                    "--workers",
                    str(args.grpc_workers),
                ],
                lambda: "listening on" in (Path(tmp) / "grpc.log").read_text(),
            ),
        }
        print(
            f"cpus={os.cpu_count()} clients={args.clients} spans/export={args.spans} gzip={args.gzip} "
            f"web workers={args.web_workers} grpc threads={args.grpc_workers}",
            flush=True,
        )
        for protocol in ("http", "grpc"):
            argv, ready = servers[protocol]
            with running(argv, env, ready, Path(tmp) / f"{protocol}.log"):
                run(protocol, exporters[protocol], plan[protocol][:warmup], 1)
                result = run(protocol, exporters[protocol], plan[protocol][warmup:], args.clients)
            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM usage_llmcall").fetchone()[0]
            print(result.line() + f"  llm calls stored so far={stored}", flush=True)


if __name__ == "__main__":
    main()
