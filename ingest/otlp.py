"""OTLP trace export decoding and response encoding: bytes in, protobuf messages out.

Errors are ``OtlpError`` subclasses, one per kind of refusal (``ingest.accept`` maps them).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
JSON_TYPE = "application/json"
ACCEPTED_TYPES = (*PROTOBUF_TYPES, JSON_TYPE)
ACCEPTED_ENCODINGS = ("identity", "gzip", "deflate")

_CHUNK = 64 * 1024


class OtlpError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedExport(OtlpError):
    """Not a decodable export: invalid protobuf, JSON, gzip or deflate."""


class UnsupportedMediaType(OtlpError):
    """A content type or content encoding that OTLP does not use."""


class PayloadTooLarge(OtlpError):
    """The body is over the limit, also after decompression."""


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo the Content-Encoding of a request body, never producing more than ``max_bytes``.

    Decompression is incremental and stops as soon as the output passes the limit, so a
    compression bomb is never expanded in memory.
    """
    encodings = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    for encoding in encodings:
        if encoding not in ACCEPTED_ENCODINGS and encoding != "x-gzip":
            raise UnsupportedMediaType(
                f"unsupported Content-Encoding {encoding!r}; accepted: {', '.join(ACCEPTED_ENCODINGS)}"
            )
    data = body
    # Encodings are listed in the order they were applied, so they are undone in reverse.
    for encoding in reversed(encodings):
        if encoding in ("gzip", "x-gzip"):
            data = _inflate(data, zlib.MAX_WBITS | 16, "gzip", max_bytes)
        elif encoding == "deflate":
            data = _inflate(data, _deflate_wbits(data), "deflate", max_bytes)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"body exceeds {max_bytes} bytes")
    return data


def _deflate_wbits(data: bytes) -> int:
    # HTTP "deflate" is meant to be zlib-wrapped, but many clients send a raw deflate stream.
    if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


def _inflate(data: bytes, wbits: int, name: str, max_bytes: int) -> bytes:
    out: list[bytes] = []
    size = 0
    pending = data
    while pending:
        decompressor = zlib.decompressobj(wbits)
        chunk_in = pending
        try:
            while True:
                piece = decompressor.decompress(chunk_in, min(_CHUNK, max_bytes - size + 1))
                size += len(piece)
                if size > max_bytes:
                    raise PayloadTooLarge(f"decompressed body exceeds {max_bytes} bytes")
                out.append(piece)
                chunk_in = decompressor.unconsumed_tail
                if decompressor.eof or (not chunk_in and not piece):
                    break
        except zlib.error as exc:
            raise MalformedExport(f"invalid {name} body: {exc}") from exc
        if not decompressor.eof:
            raise MalformedExport(f"invalid {name} body: truncated stream")
        # A gzip body may hold several members one after another (RFC 1952 §2.2), and
        # some writers pad the end with zeros, which gzip tools ignore.
        pending = decompressor.unused_data.lstrip(b"\x00") if wbits > zlib.MAX_WBITS else b""
    return b"".join(out)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_export(payload: bytes, content_type: str | None) -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP trace export body (protobuf or OTLP JSON)."""
    kind = media_type(content_type)
    if kind not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {kind or '(none)'!r}; accepted: {', '.join(ACCEPTED_TYPES)}"
        )
    request = ExportTraceServiceRequest()
    if not payload:
        return request
    if kind == JSON_TYPE:
        return _parse_json(payload)
    try:
        request.ParseFromString(payload)
    except (DecodeError, RecursionError, SystemError, ValueError) as exc:
        raise MalformedExport(f"invalid protobuf: {exc or type(exc).__name__}") from exc
    return request


def _parse_json(payload: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise MalformedExport(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise MalformedExport(f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedExport("invalid JSON at $: the export must be a JSON object")
    if _SURROGATE_ESCAPE.search(payload):
        _reject_lone_surrogates(document, "$")
    _hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise MalformedExport(f"invalid OTLP JSON: {exc}") from exc
    except (SystemError, UnicodeError) as exc:
        # The protobuf runtime raises SystemError on text it cannot hold (seen with lone surrogates).
        raise MalformedExport(
            f"invalid OTLP JSON: text the protobuf runtime cannot hold ({type(exc).__name__})"
        ) from exc
    return request


# JSON may spell UTF-16 surrogates as escapes; a pair decodes to one character, a lone one
# stays a surrogate, which is not Unicode text (no UTF-8 encoding, no protobuf string).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_lone_surrogates(value: Any, path: str) -> None:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise MalformedExport(
                f"invalid JSON at {path}: lone UTF-16 surrogate escape in a string (not valid Unicode)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise MalformedExport(
                    f"invalid JSON at {path}: lone UTF-16 surrogate escape in a key (not valid Unicode)"
                )
            _reject_lone_surrogates(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_lone_surrogates(item, f"{path}[{i}]")


_ID_LENGTHS = {"traceId": 32, "trace_id": 32, "spanId": 16, "span_id": 16, "parentSpanId": 16, "parent_span_id": 16}


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    # OTLP JSON carries ids as hex while proto3 JSON (json_format) expects base64 for bytes.
    for i, resource_spans in enumerate(_items(document, "resourceSpans", "resource_spans")):
        for j, scope_spans in enumerate(_items(resource_spans, "scopeSpans", "scope_spans")):
            for k, span in enumerate(_items(scope_spans, "spans")):
                path = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                _convert_ids(span, path)
                for n, link in enumerate(_items(span, "links")):
                    _convert_ids(link, f"{path}.links[{n}]")


def _items(container: Any, *keys: str) -> list[Any]:
    if not isinstance(container, dict):
        return []
    for key in keys:
        value = container.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(obj: Any, path: str) -> None:
    if not isinstance(obj, dict):
        return
    for key, length in _ID_LENGTHS.items():
        if key not in obj or obj[key] is None:
            continue
        value = obj[key]
        if not isinstance(value, str):
            raise MalformedExport(f"invalid JSON at {path}.{key}: {key} must be a hex string")
        if value == "":
            continue
        if len(value) != length:
            raise MalformedExport(f"invalid JSON at {path}.{key}: {key} must be {length} hex chars")
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError) as exc:
            raise MalformedExport(f"invalid JSON at {path}.{key}: {key} must be {length} hex chars") from exc
        obj[key] = base64.b64encode(raw).decode("ascii")


def _response_type(content_type: str) -> str:
    kind = media_type(content_type)
    return kind if kind in PROTOBUF_TYPES else JSON_TYPE


def encode_response(resp: ExportTraceServiceResponse, content_type: str) -> tuple[bytes, str]:
    """Serialize the export response in the request's encoding (OTLP JSON uses lowerCamelCase)."""
    kind = _response_type(content_type)
    if kind == JSON_TYPE:
        return json.dumps(json_format.MessageToDict(resp)).encode("utf-8"), JSON_TYPE
    return resp.SerializeToString(), kind


def encode_status(code: int, message: str, content_type: str) -> tuple[bytes, str]:
    """A ``google.rpc.Status`` error body in the request's encoding; JSON for unsupported types."""
    kind = _response_type(content_type)
    if kind == JSON_TYPE:
        return json.dumps({"code": code, "message": message}).encode("utf-8"), JSON_TYPE
    return RpcStatus(code=code, message=message).SerializeToString(), kind
