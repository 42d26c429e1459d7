"""Issue 14's acceptance benchmark: sustained OTLP/HTTP ingest on `make run`'s defaults, beside the
single-process decode + COPY ceiling measured in the same run.

1. **Platform**: starts Costwatch exactly as `make run` does (``python -m costwatch.launcher``
   with ``DATABASE_URL`` and ``CELERY_BROKER_URL`` unset: embedded PostgreSQL, the default broker,
   web, gRPC, worker and beat) in a temporary var folder, waits for ``/healthz`` (database and
   worker heartbeat), and creates a fresh project with ``manage.py createproject`` for its ingest
   key. ``--external`` keeps ``DATABASE_URL`` / ``CELERY_BROKER_URL`` from the environment instead.
2. **Ceiling** (``--ceiling-seconds``): one Python process parses the same serialized exports
   (``ParseFromString``), extracts each span's fields and COPYs them (psycopg 3 ``cursor.copy``, one
   transaction per export) into a table with a unique index on (project, trace, span, start) on
   the same PostgreSQL.
3. **Load** (``--seconds``): ``--clients`` threads POST protobuf exports of ``--spans`` spans, each
   waiting for its answer before sending the next (as the OTel BatchSpanProcessor does). A trace
   is one SERVER root (``http.route``, ``enduser.id``, ``costwatch.feature``) and 1-5 priced
   ``chat`` children (OTel GenAI attributes, gpt-4o-mini from openai, token usage, response id);
   every trace is new; every span starts in the hour the load starts. The export is built with the
   real OTel SDK (``TracerProvider`` spans, encoded by ``encode_spans`` of
   opentelemetry-exporter-otlp-proto-common, as the OTLP exporters do); each POST replaces the
   trace ids and response ids in those bytes, so the client spends no CPU on encoding.
4. **Rollup lag**: the age of the oldest pending rollup mark (``usage_dirtytrace`` when that table
   exists, and ``usage_dirtybucket``), sampled every second by a thread. After the load the script
   waits up to ``--catchup`` seconds for no mark to remain.
5. **Exactness**: LLM calls stored for the project = calls in the accepted exports; the hour
   rollups' ``llm_calls`` (dimension ``total``) = calls stored; their ``requests`` = traces sent.
   Exits 1 when that fails.

    .venv/bin/python bench/ingest_throughput.py                          # 30 s ceiling, 300 s load
    .venv/bin/python bench/ingest_throughput.py --seconds 60 --ceiling-seconds 10 --json

Needs the test extras (``make install-test`` or ``pip install -e '.[test]'``) for the SDK's encoder.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Every trace id of the template is SLOT + 8 bytes, every response id contains SLOT_HEX; a POST
# replaces both with the export's number (same lengths, so the protobuf stays valid).
SLOT = bytes.fromhex("c057a7c400000000")
SLOT_HEX = SLOT.hex().encode()
CEILING_FIRST_EXPORT = 1 << 40  # export numbers of the ceiling: never those of the load
ROUTES = ("/api/chat", "/api/search", "/api/summarize", "/api/checkout")
FEATURES = ("assistant", "search", "digest")
WINDOW_SECONDS = 30
# The goal, checked and printed (only exactness decides the exit status).
GOAL_RATIO, GOAL_FLATNESS, GOAL_P99_MS, GOAL_LAG_SECONDS, GOAL_SECONDS = 0.5, 0.2, 1000.0, 10.0, 300.0


# --- the export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One serialized ``ExportTraceServiceRequest`` and what it holds."""

    body: bytes
    spans: int
    traces: int
    calls: int


def children_per_trace(spans: int) -> list[int]:
    """LLM calls of each trace so that roots + calls = ``spans`` exactly: 1, 2, 3, 4, 5, 1, ...
    children, never a root without a call (``spans`` >= 2)."""
    plan: list[int] = []
    remaining = spans
    for t in itertools.count():
        if not remaining:
            return plan
        size = min(2 + t % 5, remaining)
        if remaining - size == 1:  # a lone root would be left over
            size = size + 1 if size < 6 else size - 1
        plan.append(size - 1)
        remaining -= size
    raise AssertionError("unreachable")


def build_template(spans: int, start_ns: int) -> Template:
    """Real SDK spans (one BatchSpanProcessor export's worth), encoded as the OTLP exporters do.

    Traces start 1 ms apart from ``start_ns`` (Unix ns); a root lasts until its last child ends.
    """
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import SpanKind

    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    except ImportError:
        raise SystemExit(
            "bench/ingest_throughput.py encodes with the OTel SDK's OTLP encoder "
            "(opentelemetry-exporter-otlp-proto-common): install the test extras, "
            "`make install-test` or `.venv/bin/pip install -e '.[test]'`"
        ) from None

    class SlotIds(IdGenerator):
        def __init__(self) -> None:
            self.traces = itertools.count(1)
            self.spans = itertools.count(1)

        def generate_trace_id(self) -> int:
            return int.from_bytes(SLOT + next(self.traces).to_bytes(8, "big"), "big")

        def generate_span_id(self) -> int:
            return next(self.spans)

    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "shop-api", "deployment.environment.name": "bench"}),
        id_generator=SlotIds(),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.ingest", "1.0")
    plan = children_per_trace(spans)
    for t, children in enumerate(plan):
        start = start_ns + t * 1_000_000
        route = ROUTES[t % len(ROUTES)]
        root = tracer.start_span(
            f"POST {route}",
            kind=SpanKind.SERVER,
            start_time=start,
            attributes={
                "http.request.method": "POST",
                "http.route": route,
                "http.response.status_code": 200,
                "enduser.id": f"user-{t % 100:03d}",
                "costwatch.feature": FEATURES[t % len(FEATURES)],
            },
        )
        context = trace.set_span_in_context(root)
        for c in range(children):
            begin = start + (c + 1) * 100_000_000
            child = tracer.start_span(
                "chat gpt-4o-mini",
                context=context,
                kind=SpanKind.CLIENT,
                start_time=begin,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini",
                    "gen_ai.response.id": f"chatcmpl-{SLOT_HEX.decode()}{t:04x}{c:x}",
                    "gen_ai.usage.input_tokens": 800 + 37 * c + t % 100,
                    "gen_ai.usage.output_tokens": 120 + 11 * c,
                    "server.address": "api.openai.com",
                },
            )
            child.end(end_time=begin + 80_000_000)
        root.end(end_time=start + (children + 1) * 100_000_000)
    provider.shutdown()
    body = encode_spans(memory.get_finished_spans()).SerializeToString()
    calls = sum(plan)
    # Every span carries its trace id; every call one response id. Nothing else may match.
    assert body.count(SLOT) == spans and body.count(SLOT_HEX) == calls, "export template: slot collision"
    return Template(body=body, spans=spans, traces=len(plan), calls=calls)


def export_body(template: Template, number: int) -> bytes:
    """The template with new trace and response ids: export ``number``'s traces are all new."""
    slot = b"\xc0\x57" + number.to_bytes(6, "big")
    return template.body.replace(SLOT, slot).replace(SLOT_HEX, slot.hex().encode())


def spans_start_ns() -> int:
    """Where the spans start: a minute ago, but never before the current UTC hour."""
    now = time.time_ns()
    hour_start = now - now % 3_600_000_000_000
    return max(now - 60_000_000_000, hour_start)


# --- the ceiling -----------------------------------------------------------------------------------


def _text(attrs: dict, key: str) -> str | None:
    return attrs[key].string_value if key in attrs else None


def _int(attrs: dict, key: str) -> int | None:
    return attrs[key].int_value if key in attrs else None


def measure_ceiling(db_url: str, template: Template, seconds: float) -> tuple[float, int]:
    """Spans/s (and exports done) of one process parsing exports and COPYing each span's fields
    into an indexed table of the same PostgreSQL, one transaction per export, for ``seconds``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    table = f"bench_ceiling_{os.getpid()}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"""CREATE TABLE {table} (
                project_id int NOT NULL, trace_id varchar(32) NOT NULL, span_id varchar(16) NOT NULL,
                parent_span_id varchar(16) NOT NULL, name text NOT NULL, kind smallint NOT NULL,
                started_at timestamptz NOT NULL, ended_at timestamptz NOT NULL, service text,
                operation text, provider text, request_model text, response_model text, response_id text,
                input_tokens bigint, output_tokens bigint, "user" text, feature text, route text)"""
        )
        conn.execute(f"CREATE UNIQUE INDEX ON {table} (project_id, trace_id, span_id, started_at)")
        spans = exports = 0
        began = time.perf_counter()
        try:
            for number in itertools.count(CEILING_FIRST_EXPORT):
                if time.perf_counter() - began >= seconds:
                    break
                request = ExportTraceServiceRequest()
                request.ParseFromString(export_body(template, number))
                with conn.transaction(), conn.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    for resource_spans in request.resource_spans:
                        resource = {kv.key: kv.value for kv in resource_spans.resource.attributes}
                        service = _text(resource, "service.name")
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                attrs = {kv.key: kv.value for kv in span.attributes}
                                copy.write_row(
                                    (
                                        1,
                                        span.trace_id.hex(),
                                        span.span_id.hex(),
                                        span.parent_span_id.hex(),
                                        span.name,
                                        span.kind,
                                        datetime.fromtimestamp(span.start_time_unix_nano / 1e9, timezone.utc),
                                        datetime.fromtimestamp(span.end_time_unix_nano / 1e9, timezone.utc),
                                        service,
                                        _text(attrs, "gen_ai.operation.name"),
                                        _text(attrs, "gen_ai.provider.name"),
                                        _text(attrs, "gen_ai.request.model"),
                                        _text(attrs, "gen_ai.response.model"),
                                        _text(attrs, "gen_ai.response.id"),
                                        _int(attrs, "gen_ai.usage.input_tokens"),
                                        _int(attrs, "gen_ai.usage.output_tokens"),
                                        _text(attrs, "enduser.id"),
                                        _text(attrs, "costwatch.feature"),
                                        _text(attrs, "http.route"),
                                    )
                                )
                                spans += 1
                exports += 1
            elapsed = time.perf_counter() - began
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    return spans / elapsed, exports


# --- the platform ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


class Platform:
    """``python -m costwatch.launcher`` in a fresh var folder, as `make run` starts it."""

    def __init__(self, external: bool, startup_seconds: float) -> None:
        self.external = external
        self.startup_seconds = startup_seconds
        self.folder = Path(tempfile.mkdtemp(prefix="costwatch-bench-ingest-"))
        self.folder.chmod(0o755)  # as root, pgserver runs PostgreSQL as another user, who must reach var/
        self.var = self.folder / "var"
        self.log_path = self.folder / "launcher.log"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if external or k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        self.env.update(
            COSTWATCH_VAR_DIR=str(self.var),
            COSTWATCH_PORT=str(self.port),
            COSTWATCH_GRPC_PORT=str(free_port()),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.db_url = ""

    def start(self) -> None:
        """Start the launcher and wait until ``/healthz`` answers 200 (database and worker up)."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "costwatch.launcher"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_seconds
        while _status(f"http://127.0.0.1:{self.port}/healthz") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the platform did not start; launcher log:\n{self.log_tail()}")
            time.sleep(1)
        if self.external:
            self.db_url = self.env["DATABASE_URL"]
        else:
            from costwatch.embedded import embedded_database_url

            self.db_url = embedded_database_url(self.var)  # joins the launcher's server

    def create_project(self, slug: str) -> str:
        """A new project through ``manage.py createproject``; returns its ingest key."""
        done = subprocess.run(
            [sys.executable, "manage.py", "createproject", slug],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
        )
        found = re.search(r"^COSTWATCH_INGEST_KEY=(\S+)$", done.stdout, re.M)
        if done.returncode or not found:
            raise SystemExit(f"manage.py createproject {slug} failed:\n{done.stdout}{done.stderr}")
        return found.group(1)

    def children(self) -> dict[str, int]:
        """The launcher's services by name (the last pid started for each)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", text)}

    def web_workers(self) -> int:
        """How many worker processes gunicorn runs (0 if unknown)."""
        web = self.children().get("web")
        try:
            return len(Path(f"/proc/{web}/task/{web}/children").read_text().split()) if web else 0
        except OSError:
            return 0

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, keep: bool) -> list[str]:
        """SIGINT to the launcher's process group, wait; returns what had to be killed afterwards."""
        leftovers: list[str] = []
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                leftovers.append(f"launcher (pid {self.process.pid})")
        for name, pid in self.children().items():
            try:
                os.killpg(pid, 0)  # each service runs in a session of its own
            except (ProcessLookupError, PermissionError):
                continue
            os.killpg(pid, signal.SIGKILL)
            leftovers.append(f"{name} (process group {pid})")
        if not self.external and (self.var / "pgdata" / "postmaster.pid").exists():
            from costwatch.embedded import embedded_database_running, stop_embedded_database

            if embedded_database_running(self.var):
                stop_embedded_database(self.var)
                leftovers.append("embedded PostgreSQL")
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        return leftovers


# --- rollup lag ------------------------------------------------------------------------------------


class LagSampler(threading.Thread):
    """Every second: the age (s) of the oldest pending rollup mark, 0 when none; ``samples`` holds
    (seconds since ``began``, age, marks pending)."""

    def __init__(self, db_url: str, began: float) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(db_url, autocommit=True)
        has_trace_marks = self.conn.execute("SELECT to_regclass('usage_dirtytrace') IS NOT NULL").fetchone()[0]
        marks = "SELECT marked_at FROM usage_dirtybucket"
        if has_trace_marks:
            marks += " UNION ALL SELECT marked_at FROM usage_dirtytrace"
        self.tables = "usage_dirtytrace + usage_dirtybucket" if has_trace_marks else "usage_dirtybucket"
        self.query = (
            f"SELECT COALESCE(extract(epoch FROM clock_timestamp() - min(marked_at)), 0)::float8, count(*)"
            f" FROM ({marks}) AS marks"
        )
        self.began = began
        self.samples: list[tuple[float, float, int]] = []
        self.stopping = threading.Event()

    def sample(self) -> tuple[float, int]:
        age, pending = self.conn.execute(self.query).fetchone()
        return max(0.0, age), pending

    def run(self) -> None:
        while not self.stopping.wait(1.0 - (time.perf_counter() - self.began) % 1.0):
            try:
                age, pending = self.sample()
            except psycopg.Error:
                continue
            self.samples.append((time.perf_counter() - self.began, age, pending))

    def age_at(self, moment: float) -> float | None:
        """The last sampled age at or before ``moment`` (seconds since ``began``)."""
        before = [age for at, age, _ in self.samples if at <= moment]
        return before[-1] if before else None

    def max_age(self, until: float) -> float:
        return max((age for at, age, _ in self.samples if at <= until), default=0.0)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.conn.close()


# --- the load --------------------------------------------------------------------------------------


@dataclass
class Answer:
    done_at: float  # seconds since the load began
    latency: float  # seconds
    status: int  # HTTP status; 0 = no answer (connection error or --timeout)
    rejected_spans: int


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_exports(
    load: Load,
    port: int,
    key: str,
    template: Template,
    numbers: itertools.count,
    stop_at: float,
    began: float,
    timeout: float,
) -> None:
    """One client: POST an export, wait for its answer, repeat until ``stop_at`` (perf_counter)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    headers = {"Content-Type": "application/x-protobuf", "x-costwatch-key": key, "User-Agent": "costwatch-bench"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    while time.perf_counter() < stop_at:
        with load.lock:
            number = next(numbers)
        body = export_body(template, number)
        sent = time.perf_counter()
        rejected = 0
        try:
            conn.request("POST", "/v1/traces", body, headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
            if status == 200:
                answer = ExportTraceServiceResponse()
                answer.ParseFromString(data)
                rejected = answer.partial_success.rejected_spans
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()  # the next request opens a new connection
        done = time.perf_counter()
        with load.lock:
            load.answers.append(Answer(done - began, done - sent, status, rejected))
    conn.close()


def windows(seconds: float) -> list[tuple[float, float]]:
    """The load's 30 s windows as (start, end) seconds; the last one ends at ``seconds``."""
    starts = range(0, max(1, math.ceil(seconds / WINDOW_SECONDS)))
    return [(s * WINDOW_SECONDS, min((s + 1) * WINDOW_SECONDS, seconds)) for s in starts]


def accepted_spans(answers: list[Answer], template: Template, start: float, end: float) -> int:
    """Spans of the 2xx answers that arrived in [start, end) (seconds since the load began)."""
    return sum(template.spans for a in answers if 200 <= a.status < 300 and start <= a.done_at < end)


@dataclass
class LoadResult:
    answers: list[Answer]
    seconds: float  # from the first POST to the last answer
    windows: list[dict[str, object]]  # from, to (s), spans_per_s accepted, lag_s at its end


def run_load(
    port: int, key: str, template: Template, clients: int, seconds: float, timeout: float, sampler: LagSampler
) -> LoadResult:
    """``clients`` threads POSTing for ``seconds`` (from ``sampler.began``); prints each 30 s window
    (accepted spans/s, rollup lag at its end) as it closes."""
    load = Load()
    began = sampler.began
    numbers = itertools.count(1)
    threads = [
        threading.Thread(
            target=post_exports,
            args=(load, port, key, template, numbers, began + seconds, began, timeout),
            daemon=True,
        )
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    per_window: list[dict[str, object]] = []

    def close_window(start: float, end: float) -> None:
        with load.lock:
            answers = list(load.answers)
        rate = accepted_spans(answers, template, start, end) / (end - start)
        lag = sampler.age_at(end + 1)
        per_window.append(
            {"from": start, "to": end, "spans_per_s": round(rate), "lag_s": round(lag, 1) if lag is not None else None}
        )
        lag_text = f"{lag:6.1f} s" if lag is not None else "     -"
        print(f"  {start:4.0f}-{end:<4.0f} s  {rate:9,.0f} spans/s accepted   rollup lag {lag_text}", flush=True)

    pending = windows(seconds)
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.25)
        if pending and time.perf_counter() - began >= pending[0][1] + 1:  # the lag sample at its end is in
            close_window(*pending.pop(0))
    load_seconds = time.perf_counter() - began
    for window in pending:
        close_window(*window)
    late = [a for a in load.answers if a.done_at >= seconds]
    if late:
        print(
            f"  then {len(late)} answers to the exports in flight at {seconds:.0f} s, "
            f"the last {load_seconds - seconds:.1f} s after",
            flush=True,
        )
    return LoadResult(load.answers, load_seconds, per_window)


def wait_for_rollups(sampler: LagSampler, limit: float) -> float | None:
    """Seconds until no rollup mark is pending (polled every 0.5 s), None if more than ``limit``."""
    began = time.perf_counter()
    while time.perf_counter() - began <= limit:
        if sampler.sample()[1] == 0:
            return time.perf_counter() - began
        time.sleep(0.5)
    return None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- exactness -------------------------------------------------------------------------------------


@dataclass
class Exactness:
    calls_sent: int  # in the 2xx exports
    calls_unknown: int  # in exports without an answer: stored or not, nobody knows
    rejected_spans: int  # partial_success of the 2xx answers (none expected)
    calls_stored: int
    traces_sent: int
    traces_stored: int
    calls_in_hour_rollups: int
    requests_in_hour_rollups: int

    @property
    def stored_ok(self) -> bool:
        return self.rejected_spans == 0 and self.calls_sent <= self.calls_stored <= self.calls_sent + self.calls_unknown

    @property
    def rollups_ok(self) -> bool:
        return self.calls_in_hour_rollups == self.calls_stored

    @property
    def requests_ok(self) -> bool:
        sent = self.traces_sent if not self.calls_unknown else self.traces_stored
        return self.requests_in_hour_rollups == sent == self.traces_stored

    @property
    def ok(self) -> bool:
        return self.stored_ok and self.rollups_ok and self.requests_ok


def check_exactness(db_url: str, project_id: int, template: Template, answers: list[Answer]) -> Exactness:
    """What the project stored and rolled up, against what its 2xx answers acknowledged."""
    accepted = [a for a in answers if 200 <= a.status < 300]
    unanswered = sum(a.status == 0 for a in answers)
    with psycopg.connect(db_url, autocommit=True) as conn:
        stored, traces = conn.execute(
            "SELECT count(*), count(DISTINCT trace_id) FROM usage_llmcall WHERE project_id = %s", [project_id]
        ).fetchone()
        calls, requests = conn.execute(
            "SELECT COALESCE(sum(llm_calls), 0), COALESCE(sum(requests), 0) FROM usage_rolluphour"
            " WHERE project_id = %s AND dimension = 'total'",
            [project_id],
        ).fetchone()
    return Exactness(
        calls_sent=len(accepted) * template.calls,
        calls_unknown=unanswered * template.calls,
        rejected_spans=sum(a.rejected_spans for a in accepted),
        calls_stored=int(stored),
        traces_sent=len(accepted) * template.traces,
        traces_stored=int(traces),
        calls_in_hour_rollups=int(calls),
        requests_in_hour_rollups=int(requests),
    )


# --- main ------------------------------------------------------------------------------------------


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True)
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if done.returncode == 0 else "unknown"


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def figures(
    template: Template, ceiling: float, load: LoadResult, seconds: float, lag_max: float, catch_up: float | None
) -> dict[str, object]:
    """The run's figures (JSON-ready) and the issue's goal, criterion by criterion."""
    answers = load.answers
    accepted = sum(200 <= a.status < 300 for a in answers)
    statuses = Counter(a.status for a in answers if not 200 <= a.status < 300)
    five_xx = sum(n for s, n in statuses.items() if s >= 500)
    rate = accepted * template.spans / load.seconds
    latencies = [a.latency * 1000 for a in answers]
    latency = {q: round(percentile(latencies, p)) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}
    latency["max"] = round(max(latencies))
    first = accepted_spans(answers, template, 0, 60)
    last = accepted_spans(answers, template, seconds - 60, seconds)
    flatness = last / first if seconds >= 120 and first else None
    return {
        "ceiling_spans_per_s": round(ceiling),
        "load_seconds": round(load.seconds, 1),
        "exports_2xx": accepted,
        "accepted_spans_per_s": round(rate),
        "ratio": round(rate / ceiling, 3),
        "windows": load.windows,
        "last_first_minute": round(flatness, 3) if flatness is not None else None,
        "latency_ms": latency,
        "non_2xx": {str(s): n for s, n in sorted(statuses.items())},  # "0": no answer
        "5xx": five_xx,
        "rollup_lag_max_s": round(lag_max, 1),
        "catch_up_s": round(catch_up, 1) if catch_up is not None else None,
        "goal": {
            "ratio": rate / ceiling >= GOAL_RATIO,
            "flat": flatness is not None and abs(flatness - 1) <= GOAL_FLATNESS,
            "no_5xx": five_xx == 0,
            "p99": latency["p99"] < GOAL_P99_MS,
            "lag": lag_max <= GOAL_LAG_SECONDS,
            "duration": seconds >= GOAL_SECONDS,
        },
    }


def print_report(f: dict, exact: Exactness, marks: str, catchup_limit: float) -> None:
    """The figures of ``figures`` and the exactness check, a line each."""
    latency, goal, flatness, catch_up = f["latency_ms"], f["goal"], f["last_first_minute"], f["catch_up_s"]
    others = ", ".join(f"{'no answer' if s == '0' else s}: {n}" for s, n in f["non_2xx"].items()) or "none"
    caught = f"caught up {catch_up:.1f} s after the load" if catch_up is not None else "NOT caught up"
    unknown = f" (+ up to {exact.calls_unknown:,} of unanswered exports)" if exact.calls_unknown else ""
    lines = [
        ("ceiling", f"{f['ceiling_spans_per_s']:,} spans/s"),
        (
            "accepted",
            f"{f['accepted_spans_per_s']:,} spans/s over {f['load_seconds']:.0f} s ({f['exports_2xx']} exports 2xx)",
        ),
        ("ratio", f"{f['ratio']:.3f}x the ceiling"),
        ("last / first minute", f"{flatness:.2f}" if flatness is not None else "- (needs --seconds >= 120)"),
        ("latency", " · ".join(f"{q} {ms:,} ms" for q, ms in latency.items())),
        ("non-2xx", f"{others} (5xx: {f['5xx']}); rejected spans in 2xx answers: {exact.rejected_spans}"),
        (
            "rollup lag",
            f"max {f['rollup_lag_max_s']:.1f} s during the load ({marks}); {caught}"
            + ("" if catch_up is not None else f" {catchup_limit:.0f} s after the load"),
        ),
        (
            "calls stored",
            f"{exact.calls_stored:,} = in 2xx exports {exact.calls_sent:,}{unknown}: {_yes(exact.stored_ok)}",
        ),
        (
            "hour rollups",
            f"llm_calls {exact.calls_in_hour_rollups:,} = stored: {_yes(exact.rollups_ok)} · requests "
            f"{exact.requests_in_hour_rollups:,} = traces sent {exact.traces_sent:,}: {_yes(exact.requests_ok)}",
        ),
        (
            "goal",
            f"ratio >= {GOAL_RATIO}: {_yes(goal['ratio'])} · last minute within {GOAL_FLATNESS:.0%} of the "
            f"first: {_yes(goal['flat'])} · zero 5xx: {_yes(goal['no_5xx'])} · p99 < {GOAL_P99_MS:.0f} ms: "
            f"{_yes(goal['p99'])} · lag <= {GOAL_LAG_SECONDS:.0f} s: {_yes(goal['lag'])} · >= {GOAL_SECONDS:.0f} s: "
            f"{_yes(goal['duration'])} · exact: {_yes(exact.ok)}",
        ),
    ]
    print("\n" + "\n".join(f"{name + ':':21s} {text}" for name, text in lines), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300, help="load duration (default 300)")
    parser.add_argument("--ceiling-seconds", type=float, default=30, help="ceiling duration (default 30)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent exporters (default 4)")
    parser.add_argument("--spans", type=int, default=512, help="spans per export (default 512)")
    parser.add_argument("--catchup", type=float, default=120, help="seconds to wait for rollups after the load")
    parser.add_argument("--timeout", type=float, default=60, help="client timeout per export, s (default 60)")
    parser.add_argument(
        "--external", action="store_true", help="use DATABASE_URL / CELERY_BROKER_URL from the environment"
    )
    parser.add_argument("--startup-seconds", type=float, default=300, help="how long the platform may take to start")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var folder and launcher log")
    parser.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    args = parser.parse_args()
    if args.spans < 2:
        parser.error("--spans must be at least 2 (a root and a call)")
    if args.external and not os.environ.get("DATABASE_URL", "").strip():
        parser.error("--external needs DATABASE_URL (and usually CELERY_BROKER_URL) in the environment")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the platform on the way out

    from opentelemetry.sdk.version import __version__ as sdk_version

    template = build_template(args.spans, spans_start_ns())
    summary: dict[str, object] = {
        "commit": _git_commit(),
        "cpus": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 2),
        "clients": args.clients,
        "seconds": args.seconds,
        "spans_per_export": template.spans,
        "traces_per_export": template.traces,
        "calls_per_export": template.calls,
    }
    inherited = {k: v for k, v in os.environ.items() if k.startswith("COSTWATCH_")}
    print(
        f"commit {summary['commit']} · {os.cpu_count()} cpus · load average {summary['load_average_before']}\n"
        f"export: {template.spans} spans = {template.traces} traces (SERVER root + 1-5 chat calls) = "
        f"{template.calls} LLM calls, {len(template.body):,} bytes protobuf (OTel SDK {sdk_version}, encode_spans)"
        + (f"\nsettings from the environment: {inherited}" if inherited else ""),
        flush=True,
    )
    platform = Platform(args.external, args.startup_seconds)
    exact: Exactness | None = None
    try:
        print(f"starting python -m costwatch.launcher in {platform.folder} ...", flush=True)
        started = time.monotonic()
        platform.start()
        slug = f"bench-ingest-{int(time.time())}"
        key = platform.create_project(slug)
        with psycopg.connect(platform.db_url, autocommit=True) as conn:
            project_id = conn.execute("SELECT id FROM projects_project WHERE slug = %s", [slug]).fetchone()[0]
        workers = platform.web_workers()
        where = "DATABASE_URL and CELERY_BROKER_URL" if args.external else "embedded PostgreSQL, default broker"
        print(
            f"platform up in {time.monotonic() - started:.0f} s ({where}); web on :{platform.port} with "
            f"{workers} gunicorn workers; project {slug}",
            flush=True,
        )

        print(f"ceiling: one process parses + COPYs for {args.ceiling_seconds:.0f} s ...", flush=True)
        ceiling, ceiling_exports = measure_ceiling(platform.db_url, template, args.ceiling_seconds)
        print(f"ceiling: {ceiling:,.0f} spans/s ({ceiling_exports} exports)", flush=True)

        print(f"load: {args.clients} clients x {template.spans}-span exports for {args.seconds:.0f} s", flush=True)
        template = build_template(args.spans, spans_start_ns())  # the same spans, starting in this hour
        sampler = LagSampler(platform.db_url, time.perf_counter())
        sampler.start()
        load = run_load(platform.port, key, template, args.clients, args.seconds, args.timeout, sampler)
        if not load.answers:
            raise SystemExit("no export was answered")
        catch_up = wait_for_rollups(sampler, args.catchup)
        sampler.stop()
        exact = check_exactness(platform.db_url, project_id, template, load.answers)
        summary.update(figures(template, ceiling, load, args.seconds, sampler.max_age(load.seconds), catch_up))
        summary["rollup_marks"] = sampler.tables
        summary["exactness"] = asdict(exact) | {"ok": exact.ok}
        summary["load_average_after"] = round(os.getloadavg()[0], 2)
        print_report(summary, exact, sampler.tables, args.catchup)
        print(f"load average after:   {summary['load_average_after']}", flush=True)
    finally:
        leftovers = platform.stop(keep=args.keep)
        summary["leftovers_killed"] = leftovers
        print(
            "platform stopped"
            + (f"; had to kill: {', '.join(leftovers)}" if leftovers else ", nothing left running")
            + (f"; kept {platform.folder}" if args.keep else ""),
            flush=True,
        )
    if args.json:
        print(json.dumps(summary, separators=(",", ":")))
    return 0 if exact is not None and exact.ok else 1


if __name__ == "__main__":
    sys.exit(main())
