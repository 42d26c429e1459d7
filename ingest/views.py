"""POST /v1/traces: the OTLP/HTTP trace receiver. Reads the body, answers ``ingest.accept``'s verdict."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from costwatch.projects import throttle
from costwatch.projects.authentication import key_from_headers
from ingest.accept import ExportRefused, Refusal, accept_export
from ingest.otlp import (
    ACCEPTED_TYPES,
    JSON_TYPE,
    PayloadTooLarge,
    decode_body,
    encode_response,
    encode_status,
    media_type,
)

HTTP_STATUS = {
    Refusal.UNAUTHENTICATED: 401,
    Refusal.THROTTLED: 429,
    Refusal.TOO_LARGE: 413,
    Refusal.UNSUPPORTED: 415,
    Refusal.INVALID: 400,
    Refusal.UNAVAILABLE: 503,
}
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
        answer = accept_export(
            key_from_headers(request.headers),
            lambda: _read_body(request),
            ctype,
            address=throttle.client_address(request),
        )
    except ExportRefused as refusal:
        return _error(HTTP_STATUS[refusal.kind], refusal.message, reply_type, retry_after=refusal.retry_after)
    body, out_type = encode_response(answer, ctype)
    return HttpResponse(body, status=200, content_type=out_type)


def _read_body(request: HttpRequest) -> bytes:
    """The body without its Content-Encoding, never more than ``COSTWATCH_INGEST_MAX_BYTES``."""
    limit = settings.COSTWATCH_INGEST_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    # Read at most one byte past the limit: never buffer an oversized body.
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
    return decode_body(raw, request.headers.get("Content-Encoding"), limit)
