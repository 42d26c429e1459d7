"""OTLP/gRPC trace receiver: ``TraceService/Export`` on the same ingest service as ``/v1/traces``.

Only the transport lives here: metadata → key, status codes as the OTLP specification asks
(UNAUTHENTICATED, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE with RetryInfo), the
thread pool and graceful shutdown. Decoding, mapping, pricing and the exactly-once write are
``ingest.otlp`` and ``ingest.services``, shared with the HTTP view.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import grpc
from django.conf import settings
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
)
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from costwatch.projects import throttle
from costwatch.projects.authentication import key_from_headers
from costwatch.projects.models import KeyScope
from costwatch.projects.services import authenticate_key
from ingest.deadline import ingest_deadline, is_timeout
from ingest.otlp import PROTOBUF_TYPES, OtlpError, parse_export
from ingest.services import allow_export, ingest_export

log = logging.getLogger(__name__)

SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT_METHOD = f"/{SERVICE_NAME}/Export"
DB_RETRY_DELAY_SECONDS = 5
# The OpenTelemetry Python exporter reads RetryInfo from this trailer; Go, Java and the
# Collector read it from the google.rpc.Status details in grpc-status-details-bin. Both are sent.
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"


class ExportRefused(Exception):
    """An export answered with a non-OK status; ``retry_after`` adds RetryInfo (retrying helps)."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def answer_export(payload: bytes, metadata: Mapping[str, str | bytes], peer: str = "") -> ExportTraceServiceResponse:
    """Authenticate, rate-limit, decode and ingest one serialized ExportTraceServiceRequest.

    Raises ``ExportRefused`` with the gRPC status the exporter must see; returns only after the
    calls are committed.
    """
    limit = settings.COSTWATCH_GRPC_MAX_MESSAGE_BYTES
    if len(payload) > limit:
        raise ExportRefused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"message of {len(payload)} bytes exceeds the limit of {limit} bytes")
    try:
        secret = key_from_headers({k: v for k, v in metadata.items() if isinstance(v, str)})
        if not secret:
            raise ExportRefused(grpc.StatusCode.UNAUTHENTICATED,
                                "missing ingest key: send 'authorization: Bearer <key>' or 'x-costwatch-key: <key>' metadata")
        guessing = throttle.check(throttle.KEY_ADDRESS, peer)
        if not guessing.allowed:
            raise ExportRefused(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many invalid keys from this address",
                                guessing.retry_after)
        key = authenticate_key(secret, KeyScope.INGEST)
        if key is None:
            throttle.record_failure(throttle.KEY_ADDRESS, peer)
            raise ExportRefused(grpc.StatusCode.UNAUTHENTICATED,
                                "invalid, revoked or read-only key: an ingest key is required")
        allowed, retry_after = allow_export(key)
        if not allowed:
            raise ExportRefused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"rate limit of {settings.COSTWATCH_INGEST_RATE_PER_MINUTE} exports per minute exceeded",
                                retry_after)
        try:
            export = parse_export(payload, PROTOBUF_TYPES[0])
        except OtlpError as exc:
            raise ExportRefused(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from exc
        with ingest_deadline(settings.COSTWATCH_INGEST_TIMEOUT_MS):
            result = ingest_export(key.project, export)
    except OperationalError as exc:
        if is_timeout(exc):
            log.warning("gRPC export not stored within %s ms: %s", settings.COSTWATCH_INGEST_TIMEOUT_MS, exc)
            raise ExportRefused(grpc.StatusCode.UNAVAILABLE,
                                f"the export could not be stored within {settings.COSTWATCH_INGEST_TIMEOUT_MS} ms "
                                "(the database is busy); nothing was stored; retry later", DB_RETRY_DELAY_SECONDS) from exc
        log.warning("database unavailable during gRPC ingest: %s", exc)
        raise ExportRefused(grpc.StatusCode.UNAVAILABLE, "database unavailable, nothing was stored; retry later",
                            DB_RETRY_DELAY_SECONDS) from exc
    except InterfaceError as exc:
        log.warning("database unavailable during gRPC ingest: %s", exc)
        raise ExportRefused(grpc.StatusCode.UNAVAILABLE, "database unavailable, nothing was stored; retry later",
                            DB_RETRY_DELAY_SECONDS) from exc
    except (DataError, IntegrityError) as exc:
        # Retrying the same message cannot help: INVALID_ARGUMENT, which exporters do not retry.
        log.warning("gRPC export refused by the database: %s", exc)
        raise ExportRefused(grpc.StatusCode.INVALID_ARGUMENT,
                            f"the export cannot be stored ({type(exc).__name__}: {str(exc).strip()[:200]}); "
                            "nothing was stored") from exc
    except DatabaseError as exc:
        log.exception("database error during gRPC ingest")
        raise ExportRefused(grpc.StatusCode.UNAVAILABLE,
                            f"database error, nothing was stored; retry later ({type(exc).__name__})",
                            DB_RETRY_DELAY_SECONDS) from exc
    response = ExportTraceServiceResponse()
    if result.rejected_spans:
        response.partial_success.rejected_spans = result.rejected_spans
        response.partial_success.error_message = result.error_message
    return response


def _peer_address(peer: str) -> str:
    """The IP of a gRPC peer string ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678")."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1:rest.index("]")] if "]" in rest else rest
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer


def refusal_trailers(refusal: ExportRefused) -> tuple[tuple[str, bytes], ...]:
    """google.rpc.Status (with RetryInfo in its details when retrying helps) as trailing metadata."""
    status = status_pb2.Status(code=refusal.code.value[0], message=refusal.message)
    trailers: list[tuple[str, bytes]] = []
    if refusal.retry_after is not None:
        info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=refusal.retry_after))
        status.details.add().Pack(info)
        trailers.append((RETRY_INFO_TRAILER, info.SerializeToString()))
    return tuple(rpc_status.to_status(status).trailing_metadata) + tuple(trailers)


def export(payload: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
    """The Export RPC: a thread-pool worker, so Django's per-request connection hygiene is ours."""
    close_old_connections()
    try:
        return answer_export(payload, dict(context.invocation_metadata()), _peer_address(context.peer()))
    except ExportRefused as refusal:
        context.set_trailing_metadata(refusal_trailers(refusal))
        context.abort(refusal.code, refusal.message)
        raise  # abort() always raises; this keeps type checkers content
    finally:
        close_old_connections()


def build_server(bind: str, *, workers: int, max_message_bytes: int) -> tuple[grpc.Server, int]:
    """A server bound to ``bind`` (HOST:PORT, port 0 picks one), not yet started, and its port."""
    handler = grpc.method_handlers_generic_handler(SERVICE_NAME, {
        # No request deserializer: the bytes go to ingest.otlp, so undecodable protobuf is
        # INVALID_ARGUMENT with a message rather than grpc's generic INTERNAL.
        "Export": grpc.unary_unary_rpc_method_handler(
            export, response_serializer=ExportTraceServiceResponse.SerializeToString),
    })
    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        handlers=[handler],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            # A busy port must fail loudly, not be shared with another process.
            ("grpc.so_reuseport", 0),
        ],
    )
    try:
        port = server.add_insecure_port(bind)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {bind} for OTLP/gRPC: {exc}") from exc
    if port == 0:
        raise OSError(f"cannot listen on {bind} for OTLP/gRPC")
    return server, port


def serve_until_signalled(server: grpc.Server, *, grace_seconds: float,
                          on_started: Callable[[], None] = lambda: None) -> None:
    """Run until SIGTERM or SIGINT, then refuse new exports and let in-flight ones finish."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        on_started()
        while not stopping.wait(0.5):
            pass
        log.info("stopping the OTLP/gRPC receiver; waiting up to %ss for in-flight exports", grace_seconds)
        server.stop(grace_seconds).wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        connections.close_all()
