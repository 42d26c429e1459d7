"""OTLP/gRPC ingest, fed by the real `opentelemetry-exporter-otlp-proto-grpc` exporter.

Most tests run the receiver in-process on a free port against the test database. The outage and
shutdown tests run `manage.py rungrpc` as a real process against an embedded PostgreSQL of their
own, which the test stops and starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import grpc
import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._shared_internal import DuplicateFilter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

from costwatch.embedded import (
    _import_pgserver,
    embedded_database_url,
    stop_embedded_database,
)
from costwatch.pricing.models import ModelPrice
from costwatch.usage.models import LlmCall
from ingest.grpc_server import EXPORT_METHOD, RETRY_INFO_TRAILER, build_server
from tests.conftest import REPO

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 200,
}
EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.grpc.exporter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exporter(
    port: int, headers: dict[str, str], *, timeout: float = 10, compression: grpc.Compression = grpc.Compression.Gzip
) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"127.0.0.1:{port}", insecure=True, headers=headers, timeout=timeout, compression=compression
    )


def _raw_export(
    port: int, payload: bytes, key: str
) -> tuple[grpc.StatusCode, grpc.Call | None, ExportTraceServiceResponse | None]:
    """One Export call with hand-made bytes, to read what the exporter does not expose (details, trailers)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(EXPORT_METHOD, response_deserializer=ExportTraceServiceResponse.FromString)
        try:
            response, call = export.with_call(payload, metadata=[("x-costwatch-key", key)], timeout=10)
        except grpc.RpcError as err:
            return err.code(), err, None  # type: ignore[attr-defined]
        return call.code(), call, response


def _retry_delay(call: grpc.Call) -> int | None:
    """RetryInfo from the google.rpc.Status details, checked against the Python exporter's own trailer."""
    status = rpc_status.from_call(call)
    delays = []
    for detail in status.details if status else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            delays.append(info.retry_delay.seconds)
    trailer = dict(call.trailing_metadata() or ()).get(RETRY_INFO_TRAILER)
    if trailer is not None:
        assert [error_details_pb2.RetryInfo.FromString(trailer).retry_delay.seconds] == delays
    else:
        assert delays == []
    return delays[0] if delays else None


@pytest.fixture
def gpt4o_price(db) -> ModelPrice:  # noqa: ANN001
    return ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o",
        input=Decimal("2.5"),
        output=Decimal("10"),
        cache_read=Decimal("1.25"),
        effective_from=date(2024, 10, 1),
        origin="manual",
    )


@pytest.fixture
def start_receiver(monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[Callable[..., int]]:  # noqa: ANN001
    """Start the receiver in this process on a free port; returns its port."""
    # Server threads must not keep connections to the test database past their RPC: it is
    # flushed between tests and dropped at the end.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    servers: list[grpc.Server] = []

    def start(max_message_bytes: int | None = None) -> int:
        if max_message_bytes is not None:
            settings.COSTWATCH_GRPC_MAX_MESSAGE_BYTES = max_message_bytes
        server, port = build_server(
            "127.0.0.1:0", workers=4, max_message_bytes=settings.COSTWATCH_GRPC_MAX_MESSAGE_BYTES
        )
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(5).wait()


@pytest.fixture
def receiver(start_receiver: Callable[..., int]) -> int:
    return start_receiver()


@pytest.fixture
def exporter_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The exporter's own log: which status it saw and whether it retried.

    Its logger drops a message equal to the previous one within 20 s; tests read every one.
    """
    logger = logging.getLogger(EXPORTER_LOGGER)
    dedup = [f for f in logger.filters if isinstance(f, DuplicateFilter)]
    for f in dedup:
        logger.removeFilter(f)
    caplog.set_level(logging.WARNING, logger=EXPORTER_LOGGER)
    yield caplog
    for f in dedup:
        logger.addFilter(f)


def test_real_grpc_exporter_spans_are_stored_priced_and_attributed(
    receiver, recorder, acme, acme_ingest_key, gpt4o_price
) -> None:
    with recorder.span("POST /checkout", {"http.route": "/checkout", "enduser.id": "u-42"}, kind=SpanKind.SERVER):
        recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)

    exporter = _exporter(receiver, {"x-costwatch-key": acme_ingest_key})
    assert exporter.export(recorder.exporter.get_finished_spans()) == SpanExportResult.SUCCESS

    call = LlmCall.objects.get(project=acme)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (1000, 200, 300)
    assert call.price == gpt4o_price and call.price_key == "gpt-4o"
    assert call.cost_total == Decimal("0.00575")
    assert (call.user, call.endpoint) == ("", "")  # stored as the span says; the rollup resolves
    from costwatch.usage.queries import request_calls
    from costwatch.usage.rollups import recompute_dirty

    recompute_dirty()
    [resolved] = request_calls(acme, call.trace_id)
    assert (resolved.user, resolved.endpoint) == ("u-42", "/checkout")


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_bearer_metadata_and_either_compression_are_accepted(
    receiver, recorder, acme, acme_ingest_key, compression
) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    exporter = _exporter(receiver, {"authorization": f"Bearer {acme_ingest_key}"}, compression=compression)
    assert exporter.export(recorder.exporter.get_finished_spans()) == SpanExportResult.SUCCESS
    assert LlmCall.objects.filter(project=acme).count() == 1


def test_duplicates_over_grpc_and_http_are_counted_once(receiver, live_server, recorder, acme, acme_ingest_key) -> None:
    for n in range(3):
        recorder.record(f"chat {n}", CHAT, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()
    grpc_exporter = _exporter(receiver, {"x-costwatch-key": acme_ingest_key})
    http_exporter = HttpSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"x-costwatch-key": acme_ingest_key}, timeout=10
    )

    for exporter in (grpc_exporter, grpc_exporter, http_exporter, grpc_exporter):
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert grpc_exporter.export(spans[1:2]) == SpanExportResult.SUCCESS

    assert LlmCall.objects.filter(project=acme).count() == 3


def test_invalid_spans_are_rejected_through_partial_success_and_the_rest_kept(
    receiver, recorder, acme, acme_ingest_key
) -> None:
    recorder.record("chat ok", CHAT, kind=SpanKind.CLIENT)
    recorder.record("chat bad", {**CHAT, "gen_ai.usage.input_tokens": -5}, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()

    assert _exporter(receiver, {"x-costwatch-key": acme_ingest_key}).export(spans) == SpanExportResult.SUCCESS
    code, _, response = _raw_export(receiver, encode_spans(spans).SerializeToString(), acme_ingest_key)

    assert code == grpc.StatusCode.OK
    assert response is not None and response.partial_success.rejected_spans == 1
    assert "gen_ai.usage.input_tokens is negative" in response.partial_success.error_message
    assert LlmCall.objects.filter(project=acme).count() == 1


def test_keys_never_cross_projects(receiver, recorder, acme, globex, globex_ingest_key) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    exporter = _exporter(receiver, {"x-costwatch-key": globex_ingest_key})
    assert exporter.export(recorder.exporter.get_finished_spans()) == SpanExportResult.SUCCESS
    assert LlmCall.objects.filter(project=globex).count() == 1
    assert LlmCall.objects.filter(project=acme).count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda read_key: {}, id="no-key"),
        pytest.param(lambda read_key: {"authorization": "Bearer cw_ingest_not-a-real-key"}, id="unknown-key"),
        pytest.param(lambda read_key: {"x-costwatch-key": read_key}, id="read-key"),
    ],
)
def test_a_bad_key_is_unauthenticated_and_not_retried(
    receiver, recorder, acme, acme_read_key, exporter_log, headers
) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    exporter = _exporter(receiver, headers(acme_read_key))

    assert exporter.export(recorder.exporter.get_finished_spans()) == SpanExportResult.FAILURE

    assert "error code: StatusCode.UNAUTHENTICATED" in exporter_log.text
    assert "Transient error" not in exporter_log.text
    assert LlmCall.objects.count() == 0


def test_undecodable_data_is_invalid_argument_and_not_retried(
    receiver, recorder, acme, acme_ingest_key, exporter_log
) -> None:
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    exporter = _exporter(receiver, {"x-costwatch-key": acme_ingest_key})
    # The stock exporter over its own channel, but its message is corrupted on the wire.
    exporter._client.Export = exporter._channel.unary_unary(  # type: ignore[union-attr]
        EXPORT_METHOD,
        request_serializer=lambda request: request.SerializeToString() + b"\x0a\xff\xff",
        response_deserializer=ExportTraceServiceResponse.FromString,
    )

    assert exporter.export(recorder.exporter.get_finished_spans()) == SpanExportResult.FAILURE
    code, call, _ = _raw_export(receiver, b"\x0a\xff\xff\xff\x0f", acme_ingest_key)

    assert "error code: StatusCode.INVALID_ARGUMENT" in exporter_log.text
    assert "Transient error" not in exporter_log.text
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert call is not None and call.details().startswith("invalid protobuf")
    assert _retry_delay(call) is None
    assert LlmCall.objects.count() == 0


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_an_oversized_message_is_resource_exhausted_without_retry_info(
    start_receiver, recorder, acme, acme_ingest_key, exporter_log, compression
) -> None:
    port = start_receiver(max_message_bytes=4096)
    for n in range(20):
        # Compresses well: with gzip the wire message is far below the limit, the decoded one above it.
        recorder.record(f"chat {n}", {**CHAT, "gen_ai.prompt": "tell me about costs " * 20}, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()
    assert len(encode_spans(spans).SerializeToString()) > 4096

    # The Python exporter retries RESOURCE_EXHAUSTED (backoff 1 s, then 2 s) within its timeout: once here.
    result = _exporter(port, {"x-costwatch-key": acme_ingest_key}, timeout=2, compression=compression).export(spans)
    code, call, _ = _raw_export(port, encode_spans(spans).SerializeToString(), acme_ingest_key)

    assert result == SpanExportResult.FAILURE
    assert "StatusCode.RESOURCE_EXHAUSTED" in exporter_log.text
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert call is not None and _retry_delay(call) is None
    assert LlmCall.objects.count() == 0


def test_over_the_rate_limit_is_resource_exhausted_with_retry_info(
    receiver, recorder, acme, acme_ingest_key, exporter_log, settings
) -> None:
    settings.COSTWATCH_INGEST_RATE_PER_MINUTE = 1
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    spans = recorder.exporter.get_finished_spans()
    exporter = _exporter(receiver, {"x-costwatch-key": acme_ingest_key}, timeout=1)

    assert exporter.export(spans) == SpanExportResult.SUCCESS
    # RetryInfo says wait about a minute, longer than the exporter's 1 s timeout: it gives up.
    assert exporter.export(spans) == SpanExportResult.FAILURE
    code, call, _ = _raw_export(receiver, encode_spans(spans).SerializeToString(), acme_ingest_key)

    assert "error code: StatusCode.RESOURCE_EXHAUSTED" in exporter_log.text
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert call is not None and 1 <= (_retry_delay(call) or 0) <= 60
    assert LlmCall.objects.filter(project=acme).count() == 1


def test_rungrpc_refuses_a_port_already_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(CommandError, match=f"127.0.0.1:{port}"):
            call_command("rungrpc", "--bind", f"127.0.0.1:{port}")


# --- A real `manage.py rungrpc` process on a PostgreSQL the test can stop -------------------


@dataclass
class StandaloneDatabase:
    var: Path
    url: str
    env: dict[str, str]
    ingest_key: str

    def stop(self) -> None:
        stop_embedded_database(self.var)

    def start(self) -> None:
        _import_pgserver().get_server(self.var / "pgdata", cleanup_mode=None).ensure_postgres_running()

    def stored_calls(self) -> int:
        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT count(*) FROM usage_llmcall").fetchone()[0]


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def standalone_db() -> Iterator[StandaloneDatabase]:
    # Not under pytest's basetemp: every pytest run resets /tmp/pytest-of-<user> to 0700, which
    # locks out the unprivileged user PostgreSQL runs as when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="costwatch-grpc-"))
    var = root / "var"
    var.mkdir()
    try:
        url = embedded_database_url(var)
        env = {**os.environ, "DATABASE_URL": url, "COSTWATCH_VAR_DIR": str(var)}
        _manage(env, "migrate", "--noinput", "-v0")
        keys = dict(line.split("=", 1) for line in _manage(env, "createproject", "shop").split())
        yield StandaloneDatabase(var, url, env, keys["COSTWATCH_INGEST_KEY"])
    finally:
        stop_embedded_database(var)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def rungrpc(db: StandaloneDatabase, log: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "rungrpc", "--bind", f"127.0.0.1:{port}", *extra],
            cwd=REPO,
            env=db.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while "listening on" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "listening on" in log.read_text(), log.read_text()
            yield proc, port
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _llm_spans(make_recorder, count: int) -> list[ReadableSpan]:  # noqa: ANN001
    recorder = make_recorder()
    for n in range(count):
        recorder.record(f"chat {n}", CHAT, kind=SpanKind.CLIENT)
    return list(recorder.exporter.get_finished_spans())


@pytest.mark.process
def test_a_database_outage_answers_unavailable_and_the_exporter_retry_stores_it_once(
    standalone_db, make_recorder, tmp_path, exporter_log
) -> None:
    before = standalone_db.stored_calls()
    first, second = _llm_spans(make_recorder, 2), _llm_spans(make_recorder, 3)
    log = tmp_path / "rungrpc.log"
    with rungrpc(standalone_db, log) as (_, port):
        exporter = _exporter(port, {"x-costwatch-key": standalone_db.ingest_key}, timeout=40)
        assert exporter.export(first) == SpanExportResult.SUCCESS

        standalone_db.stop()
        outcome: list[SpanExportResult] = []
        sending = threading.Thread(target=lambda: outcome.append(exporter.export(second)))
        sending.start()
        try:
            _wait_for(lambda: "database unavailable" in log.read_text(), 20, "the receiver to refuse the export")
            assert outcome == []  # the exporter is waiting to retry, not done
        finally:
            standalone_db.start()
        sending.join(60)

        assert outcome == [SpanExportResult.SUCCESS], log.read_text()
        assert "Transient error StatusCode.UNAVAILABLE" in exporter_log.text
        assert "retrying in 5.00s" in exporter_log.text  # the RetryInfo delay, not the exporter's own backoff
        assert standalone_db.stored_calls() == before + 5

        assert exporter.export(second) == SpanExportResult.SUCCESS
        assert exporter.export(first + second) == SpanExportResult.SUCCESS
    assert standalone_db.stored_calls() == before + 5


@pytest.mark.process
def test_sigterm_lets_an_in_flight_export_finish_before_the_process_exits(
    standalone_db, make_recorder, tmp_path
) -> None:
    before = standalone_db.stored_calls()
    spans = _llm_spans(make_recorder, 4)
    log = tmp_path / "rungrpc.log"
    with rungrpc(standalone_db, log, "--grace", "30") as (proc, port):
        exporter = _exporter(port, {"x-costwatch-key": standalone_db.ingest_key}, timeout=60)
        outcome: list[SpanExportResult] = []
        with psycopg.connect(standalone_db.url) as lock, psycopg.connect(standalone_db.url, autocommit=True) as watch:
            # Hold the export inside its insert until the process has been told to stop.
            lock.execute("LOCK TABLE usage_llmcall IN SHARE MODE")
            sending = threading.Thread(target=lambda: outcome.append(exporter.export(spans)))
            sending.start()
            _wait_for(
                lambda: (
                    watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()[0]
                    > 0
                ),
                20,
                "the export to block on the lock",
            )
            proc.send_signal(signal.SIGTERM)
            _wait_for(lambda: "stopping the OTLP/gRPC receiver" in log.read_text(), 10, "the receiver to stop")
            time.sleep(0.5)
            assert proc.poll() is None, "exited with an export in flight"
            assert outcome == []
        # Leaving the block commits and releases the lock.
        sending.join(30)
        assert proc.wait(30) == 0, log.read_text()

    assert outcome == [SpanExportResult.SUCCESS]
    assert standalone_db.stored_calls() == before + 4
