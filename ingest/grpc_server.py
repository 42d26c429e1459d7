"""OTLP/gRPC trace receiver: ``TraceService/Export`` on the same ingest service as ``/v1/traces``.

Only the transport lives here: metadata → key, ``ingest.accept``'s refusals → status codes as the
OTLP specification asks (UNAUTHENTICATED, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE with
RetryInfo), the thread pool and graceful shutdown. Authentication, limits, decoding and the
exactly-once write are ``ingest.accept``, shared with the HTTP view.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
from django.conf import settings
from django.db import close_old_connections, connections
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from costwatch.projects.authentication import key_from_headers
from ingest.accept import ExportRefused, Refusal, accept_export
from ingest.otlp import PROTOBUF_TYPES, PayloadTooLarge

log = logging.getLogger(__name__)

SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT_METHOD = f"/{SERVICE_NAME}/Export"
# The OpenTelemetry Python exporter reads RetryInfo from this trailer; Go, Java and the
# Collector read it from the google.rpc.Status details in grpc-status-details-bin. Both are sent.
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"
GRPC_STATUS = {
    Refusal.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Refusal.THROTTLED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Refusal.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Refusal.UNSUPPORTED: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


def _within_limit(payload: bytes) -> bytes:
    """The message, if its size (after gRPC's decompression) is within ``COSTWATCH_GRPC_MAX_MESSAGE_BYTES``."""
    limit = settings.COSTWATCH_GRPC_MAX_MESSAGE_BYTES
    if len(payload) > limit:
        raise PayloadTooLarge(f"message of {len(payload)} bytes exceeds the limit of {limit} bytes")
    return payload


def _peer_address(peer: str) -> str:
    """The IP of a gRPC peer string ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678")."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1 : rest.index("]")] if "]" in rest else rest
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer


def refusal_trailers(refusal: ExportRefused) -> tuple[tuple[str, bytes], ...]:
    """google.rpc.Status (with RetryInfo in its details when retrying helps) as trailing metadata."""
    status = status_pb2.Status(code=GRPC_STATUS[refusal.kind].value[0], message=refusal.message)
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
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        return accept_export(
            key_from_headers(metadata),
            lambda: _within_limit(payload),
            PROTOBUF_TYPES[0],
            address=_peer_address(context.peer()),
        )
    except ExportRefused as refusal:
        context.set_trailing_metadata(refusal_trailers(refusal))
        context.abort(GRPC_STATUS[refusal.kind], refusal.message)
        raise  # abort() always raises; this keeps type checkers content
    finally:
        close_old_connections()


def build_server(bind: str, *, workers: int, max_message_bytes: int) -> tuple[grpc.Server, int]:
    """A server bound to ``bind`` (HOST:PORT, port 0 picks one), not yet started, and its port."""
    handler = grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            # No request deserializer: the bytes go to ingest.otlp, so undecodable protobuf is
            # INVALID_ARGUMENT with a message rather than grpc's generic INTERNAL.
            "Export": grpc.unary_unary_rpc_method_handler(
                export, response_serializer=ExportTraceServiceResponse.SerializeToString
            ),
        },
    )
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


def serve_until_signalled(
    server: grpc.Server, *, grace_seconds: float, on_started: Callable[[], None] = lambda: None
) -> None:
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
