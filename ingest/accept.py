"""Accepting one OTLP trace export, whatever the transport: the steps every export goes through.

``accept_export`` checks, in this order: the key is present (and the address has not sent too
many unknown keys), the key is an ingest key, the content type is OTLP protobuf or JSON, the
key's per-minute budget allows one more export, the payload (read and decoded by the transport)
fits, it parses, and its calls commit within ``COSTWATCH_INGEST_TIMEOUT_MS``. The first step
that fails raises one ``ExportRefused`` with a ``Refusal`` kind; ``ingest/views.py`` answers it
with an HTTP status, ``ingest/grpc_server.py`` with a gRPC status code (RetryInfo when
``retry_after`` is set). Nothing is stored unless the answer is the response.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, DataError, Error, IntegrityError, InterfaceError, OperationalError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from costwatch.projects import throttle
from costwatch.projects.models import ApiKey, KeyScope
from costwatch.projects.services import authenticate_key
from ingest.deadline import ingest_deadline, is_timeout
from ingest.otlp import (
    ACCEPTED_TYPES,
    MalformedExport,
    OtlpError,
    PayloadTooLarge,
    UnsupportedMediaType,
    media_type,
    parse_export,
)
from ingest.ratelimit import allow_export
from ingest.services import ingest_export

log = logging.getLogger(__name__)

# How long an exporter is asked to wait when the database could not take the export.
DB_RETRY_AFTER_SECONDS = 5


class Refusal(enum.Enum):
    """Why an export was refused; each transport answers a kind with its own status."""

    UNAUTHENTICATED = "unauthenticated"  # missing, unknown, revoked or read-only key
    THROTTLED = "throttled"  # over the key's rate, or too many unknown keys from the address
    TOO_LARGE = "too_large"  # the payload is over the limit, also after decompression
    UNSUPPORTED = "unsupported"  # a content type or content encoding that is not OTLP's
    INVALID = "invalid"  # undecodable, or data the database refuses: retrying cannot help
    UNAVAILABLE = "unavailable"  # the database is down or busy: nothing stored, retrying helps


class ExportRefused(Exception):
    """The export was not stored. ``retry_after`` (seconds) is set when retrying later helps."""

    def __init__(self, kind: Refusal, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after


_DECODE_REFUSALS: dict[type[OtlpError], Refusal] = {
    MalformedExport: Refusal.INVALID,
    UnsupportedMediaType: Refusal.UNSUPPORTED,
    PayloadTooLarge: Refusal.TOO_LARGE,
}


def accept_export(
    secret: str | None, payload: bytes | Callable[[], bytes], content_type: str | None, *, address: str
) -> ExportTraceServiceResponse:
    """Authenticate, rate-limit, decode and store one ``ExportTraceServiceRequest``.

    ``secret`` is the key the client sent (None when it sent none), ``address`` the client's IP
    (unknown keys are throttled per address). ``payload`` is the serialized request, or a
    function returning it that is called only once the key and its rate allow the export, so a
    refused body is never buffered; it may raise ``OtlpError`` (``PayloadTooLarge`` ...).

    Returns the response (``partial_success`` lists the rejected spans) only after the calls
    are committed; raises ``ExportRefused`` otherwise.
    """
    try:
        key = _authenticate(secret, address)
        kind = media_type(content_type)
        if kind not in ACCEPTED_TYPES:
            raise ExportRefused(
                Refusal.UNSUPPORTED,
                f"unsupported content type {kind or '(none)'!r}; use one of {', '.join(ACCEPTED_TYPES)}",
            )
        allowed, retry_after = allow_export(key.key_hash)
        if not allowed:
            raise ExportRefused(
                Refusal.THROTTLED,
                f"rate limit of {settings.COSTWATCH_INGEST_RATE_PER_MINUTE} exports per minute exceeded",
                retry_after,
            )
        try:
            export = parse_export(payload() if callable(payload) else payload, kind)
        except OtlpError as exc:
            raise ExportRefused(_DECODE_REFUSALS.get(type(exc), Refusal.INVALID), exc.message) from exc
        with ingest_deadline(settings.COSTWATCH_INGEST_TIMEOUT_MS):
            result = ingest_export(key.project, export)
    except OperationalError as exc:
        if is_timeout(exc):
            log.warning("export not stored within %s ms: %s", settings.COSTWATCH_INGEST_TIMEOUT_MS, exc)
            raise ExportRefused(
                Refusal.UNAVAILABLE,
                f"the export could not be stored within {settings.COSTWATCH_INGEST_TIMEOUT_MS} ms "
                "(the database is busy); nothing was stored; retry later",
                DB_RETRY_AFTER_SECONDS,
            ) from exc
        raise _database_unavailable(exc) from exc
    except InterfaceError as exc:
        raise _database_unavailable(exc) from exc
    except (DataError, IntegrityError) as exc:
        # Retrying the same bytes cannot help: refuse them rather than have them retried forever.
        log.warning("export refused by the database: %s", exc)
        raise ExportRefused(
            Refusal.INVALID,
            f"the export cannot be stored ({type(exc).__name__}: {str(exc).strip()[:200]}); nothing was stored",
        ) from exc
    except DatabaseError as exc:
        log.exception("database error during ingest")
        raise ExportRefused(
            Refusal.UNAVAILABLE,
            f"database error, nothing was stored; retry later ({type(exc).__name__})",
            DB_RETRY_AFTER_SECONDS,
        ) from exc
    response = ExportTraceServiceResponse()
    if result.rejected_spans:
        response.partial_success.rejected_spans = result.rejected_spans
        response.partial_success.error_message = result.error_message
    return response


def _authenticate(secret: str | None, address: str) -> ApiKey:
    if not secret:
        raise ExportRefused(
            Refusal.UNAUTHENTICATED,
            "missing ingest key: send 'authorization: Bearer <key>' or 'x-costwatch-key: <key>'",
        )
    guessing = throttle.check(throttle.KEY_ADDRESS, address)
    if not guessing.allowed:
        raise ExportRefused(
            Refusal.THROTTLED, "too many invalid keys from this address; try again later", guessing.retry_after
        )
    key = authenticate_key(secret, KeyScope.INGEST)
    if key is None:
        throttle.record_failure(throttle.KEY_ADDRESS, address)
        raise ExportRefused(Refusal.UNAUTHENTICATED, "invalid, revoked or read-only key: an ingest key is required")
    return key


def _database_unavailable(exc: Error) -> ExportRefused:
    log.warning("database unavailable during ingest: %s", exc)
    return ExportRefused(
        Refusal.UNAVAILABLE, "database unavailable, nothing was stored; retry later", DB_RETRY_AFTER_SECONDS
    )
