"""POST /v1/traces: the OTLP/HTTP trace receiver. Parses, authenticates, hands off to services."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from costwatch.projects import throttle
from costwatch.projects.authentication import key_from_headers
from costwatch.projects.models import KeyScope
from costwatch.projects.services import authenticate_key
from ingest.otlp import (
    ACCEPTED_TYPES,
    JSON_TYPE,
    OtlpError,
    PayloadTooLarge,
    UnsupportedMediaType,
    decode_body,
    encode_response,
    encode_status,
    media_type,
    parse_export,
)
from ingest.deadline import ingest_deadline, is_timeout
from ingest.services import allow_export, ingest_export

log = logging.getLogger(__name__)

DB_RETRY_AFTER_SECONDS = 5
# gRPC status codes used in google.rpc.Status bodies, as OTLP/HTTP error responses carry.
RPC_CODE = {400: 3, 401: 16, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


def _error(status: int, message: str, content_type: str, retry_after: int | None = None) -> HttpResponse:
    body, ctype = encode_status(RPC_CODE.get(status, 2), message, content_type)
    response = HttpResponse(body, status=status, content_type=ctype)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="costwatch"'
    return response


@csrf_exempt
def traces(request: HttpRequest) -> HttpResponse:
    """The OTLP/HTTP receiver; whatever it answers, the client's body is read first (bounded).

    A client such as Python's ``http.client`` sends the whole body before reading the answer: a
    server that answers early (413, 401) and closes leaves it with a broken pipe instead of the
    status. So the unread rest of the body is drained, up to ``DRAIN_LIMIT_BYTES``, before the
    answer goes out.
    """
    response = _answer(request)
    _drain(request)
    return response


DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


def _drain(request: HttpRequest) -> None:
    remaining = DRAIN_LIMIT_BYTES
    try:
        while remaining > 0:
            chunk = request.read(min(256 * 1024, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
    except OSError:
        return  # the client went away; nothing to answer


def _answer(request: HttpRequest) -> HttpResponse:
    ctype = media_type(request.content_type)
    reply_type = ctype if ctype in ACCEPTED_TYPES else JSON_TYPE
    if request.method != "POST":
        response = _error(405, "use POST with an ExportTraceServiceRequest", reply_type)
        response["Allow"] = "POST"
        return response
    try:
        secret = key_from_headers(request.headers)
        if not secret:
            return _error(401, "missing ingest key: send 'Authorization: Bearer <key>' or 'x-costwatch-key: <key>'", reply_type)
        address = throttle.client_address(request)
        guessing = throttle.check(throttle.KEY_ADDRESS, address)
        if not guessing.allowed:
            return _error(429, "too many invalid keys from this address; try again later", reply_type,
                          retry_after=guessing.retry_after)
        key = authenticate_key(secret, KeyScope.INGEST)
        if key is None:
            throttle.record_failure(throttle.KEY_ADDRESS, address)
            return _error(401, "invalid, revoked or read-only key: an ingest key is required", reply_type)
        if ctype not in ACCEPTED_TYPES:
            raise UnsupportedMediaType(f"unsupported content type {ctype or '(none)'!r}; use one of {', '.join(ACCEPTED_TYPES)}")
        allowed, retry_after = allow_export(key)
        if not allowed:
            return _error(429, f"rate limit of {settings.COSTWATCH_INGEST_RATE_PER_MINUTE} exports per minute exceeded",
                          reply_type, retry_after=retry_after)
        limit = settings.COSTWATCH_INGEST_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
        # Read at most one byte past the limit: never buffer an oversized body.
        raw = request.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        payload = decode_body(raw, request.headers.get("Content-Encoding"), limit)
        export = parse_export(payload, ctype)
        with ingest_deadline(settings.COSTWATCH_INGEST_TIMEOUT_MS):
            result = ingest_export(key.project, export)
    except OtlpError as exc:
        return _error(exc.status, exc.message, reply_type)
    except OperationalError as exc:
        if is_timeout(exc):
            log.warning("export not stored within %s ms: %s", settings.COSTWATCH_INGEST_TIMEOUT_MS, exc)
            return _error(503, f"the export could not be stored within {settings.COSTWATCH_INGEST_TIMEOUT_MS} ms "
                               "(the database is busy); nothing was stored; retry later", reply_type,
                          retry_after=DB_RETRY_AFTER_SECONDS)
        log.warning("database unavailable during ingest: %s", exc)
        return _error(503, "database unavailable, nothing was stored; retry later", reply_type,
                      retry_after=DB_RETRY_AFTER_SECONDS)
    except InterfaceError as exc:
        log.warning("database unavailable during ingest: %s", exc)
        return _error(503, "database unavailable, nothing was stored; retry later", reply_type,
                      retry_after=DB_RETRY_AFTER_SECONDS)
    except (DataError, IntegrityError) as exc:
        # Retrying the same bytes cannot help: refuse them (400) rather than have them retried forever.
        log.warning("export refused by the database: %s", exc)
        return _error(400, f"the export cannot be stored ({type(exc).__name__}: {str(exc).strip()[:200]}); "
                           "nothing was stored", reply_type)
    except DatabaseError as exc:
        log.exception("database error during ingest")
        return _error(503, f"database error, nothing was stored; retry later ({type(exc).__name__})", reply_type,
                      retry_after=DB_RETRY_AFTER_SECONDS)
    response = ExportTraceServiceResponse()
    if result.rejected_spans:
        response.partial_success.rejected_spans = result.rejected_spans
        response.partial_success.error_message = result.error_message
    body, out_type = encode_response(response, ctype)
    return HttpResponse(body, status=200, content_type=out_type)
