from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.otlp import (
    MalformedExport,
    PayloadTooLarge,
    UnsupportedMediaType,
    decode_body,
    encode_response,
    encode_status,
    parse_export,
)

MB = 1024 * 1024
TRACE_HEX = "5B8EFFF798038103D269B633813FC60C"
SPAN_HEX = "EEE19B7EC3C1B174"
PARENT_HEX = "EEE19B7EC3C1B173"


def otlp_json(**span_overrides: object) -> dict:
    """A realistic OTLP/JSON export as a non-Python exporter writes it."""
    span = {
        "traceId": TRACE_HEX,
        "spanId": SPAN_HEX,
        "parentSpanId": PARENT_HEX,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1735689600000000000",
        "endTimeUnixNano": 1735689601500000000,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 80}},
            {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.2}},
            {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}},
        ],
        "status": {"code": 1},
        "someFutureField": {"ignored": True},
    }
    span.update(span_overrides)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"}, "spans": [span]}],
            }
        ]
    }


def json_bytes(document: dict) -> bytes:
    return json.dumps(document).encode()


# --- decode_body -----------------------------------------------------------------------


def test_identity_body_is_returned_unchanged() -> None:
    assert decode_body(b"abc", None, 10) == b"abc"
    assert decode_body(b"abc", "identity", 10) == b"abc"
    assert decode_body(b"abc", "", 10) == b"abc"


def test_identity_body_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_body(b"x" * 11, None, 10)


def test_gzip_body_is_decompressed() -> None:
    assert decode_body(gzip.compress(b"hello spans"), "gzip", 100) == b"hello spans"
    assert decode_body(gzip.compress(b"hello spans"), "GZIP", 100) == b"hello spans"
    assert decode_body(gzip.compress(b"hello spans"), "x-gzip", 100) == b"hello spans"


def test_multi_member_gzip_body_is_decompressed_whole() -> None:
    assert decode_body(gzip.compress(b"one ") + gzip.compress(b"two"), "gzip", 100) == b"one two"
    assert decode_body(gzip.compress(b"padded") + bytes(8), "gzip", 100) == b"padded"


def test_deflate_body_is_decompressed_with_or_without_zlib_wrapper() -> None:
    zlib_wrapped = zlib.compress(b"deflated spans")
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = raw.compress(b"deflated spans") + raw.flush()
    assert decode_body(zlib_wrapped, "deflate", 100) == b"deflated spans"
    assert decode_body(raw_deflate, "deflate", 100) == b"deflated spans"


def test_gzip_bomb_is_refused_without_expanding_it() -> None:
    bomb = gzip.compress(bytes(50 * MB), compresslevel=9)
    assert len(bomb) < MB
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            decode_body(bomb, "gzip", MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB


def test_decompressed_body_exactly_at_the_limit_is_accepted() -> None:
    assert len(decode_body(gzip.compress(bytes(1000)), "gzip", 1000)) == 1000
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress(bytes(1001)), "gzip", 1000)


def test_corrupt_gzip_is_malformed() -> None:
    with pytest.raises(MalformedExport) as caught:
        decode_body(b"\x1f\x8bnot really gzip", "gzip", 100)
    assert "gzip" in caught.value.message


def test_truncated_gzip_is_malformed() -> None:
    body = gzip.compress(b"a fairly long body " * 20)
    with pytest.raises(MalformedExport, match="truncated"):
        decode_body(body[: len(body) // 2], "gzip", 10_000)


def test_unknown_content_encoding_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_body(b"x", "br", 100)
    assert "gzip" in caught.value.message


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=5000), encoding=st.sampled_from(["gzip", "deflate", "identity"]))
def test_decode_body_round_trips(data: bytes, encoding: str) -> None:
    encoded = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": lambda b: b}[encoding](data)
    assert decode_body(encoded, encoding, len(data)) == data
    if data:
        with pytest.raises(PayloadTooLarge):
            decode_body(encoded, encoding, len(data) - 1)


# --- parse_export ----------------------------------------------------------------------


def test_protobuf_export_from_the_sdk_encoder_parses(recorder) -> None:
    recorder.record("chat gpt-4o", {"gen_ai.operation.name": "chat"})
    request = recorder.request()
    for content_type in ("application/x-protobuf", "application/protobuf", "Application/X-Protobuf; charset=binary"):
        assert parse_export(request.SerializeToString(), content_type) == request


def test_empty_body_is_an_empty_request() -> None:
    assert parse_export(b"", "application/x-protobuf") == ExportTraceServiceRequest()
    assert parse_export(b"", "application/json") == ExportTraceServiceRequest()


def test_unsupported_content_type_lists_the_accepted_ones() -> None:
    for content_type in ("text/plain", None, "application/grpc"):
        with pytest.raises(UnsupportedMediaType) as caught:
            parse_export(b"{}", content_type)
            assert "application/x-protobuf" in caught.value.message
        assert "application/json" in caught.value.message


def test_malformed_protobuf_is_rejected_with_a_precise_message() -> None:
    with pytest.raises(MalformedExport) as caught:
        parse_export(b"\x0a\xff\xff\xff\xff\x0f garbage", "application/x-protobuf")
    assert caught.value.message.startswith("invalid protobuf: ")


def test_otlp_json_with_hex_ids_parses() -> None:
    request = parse_export(json_bytes(otlp_json()), "application/json; charset=utf-8")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert span.start_time_unix_nano == 1735689600000000000
    assert span.end_time_unix_nano == 1735689601500000000
    attributes = {kv.key: kv.value for kv in span.attributes}
    assert attributes["gen_ai.usage.input_tokens"].int_value == 1200
    assert attributes["gen_ai.usage.output_tokens"].int_value == 80
    assert attributes["gen_ai.response.finish_reasons"].array_value.values[0].string_value == "stop"


def test_otlp_json_accepts_snake_case_keys() -> None:
    document = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_HEX.lower(),
                                "span_id": SPAN_HEX.lower(),
                                "name": "x",
                                "start_time_unix_nano": "5",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    span = parse_export(json_bytes(document), "application/json").resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_HEX.lower()
    assert span.start_time_unix_nano == 5


def test_otlp_json_link_ids_are_hex_too() -> None:
    document = otlp_json(links=[{"traceId": TRACE_HEX, "spanId": PARENT_HEX}])
    span = parse_export(json_bytes(document), "application/json").resource_spans[0].scope_spans[0].spans[0]
    assert span.links[0].span_id == bytes.fromhex(PARENT_HEX)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("traceId", "abc", "traceId must be 32 hex chars"),
        ("traceId", "zz" * 16, "traceId must be 32 hex chars"),
        ("spanId", TRACE_HEX, "spanId must be 16 hex chars"),
        ("parentSpanId", 12, "parentSpanId must be a hex string"),
    ],
)
def test_bad_hex_ids_are_malformed(field: str, value: object, expected: str) -> None:
    with pytest.raises(MalformedExport) as caught:
        parse_export(json_bytes(otlp_json(**{field: value})), "application/json")
    assert expected in caught.value.message
    assert f"resourceSpans[0].scopeSpans[0].spans[0].{field}" in caught.value.message


def test_malformed_json_reports_where() -> None:
    with pytest.raises(MalformedExport) as caught:
        parse_export(b'{"resourceSpans": [', "application/json")
    assert caught.value.message.startswith("invalid JSON at line 1 column")


def test_json_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedExport, match="JSON object"):
        parse_export(b"[1, 2]", "application/json")


def test_json_with_wrong_field_types_is_malformed() -> None:
    with pytest.raises(MalformedExport, match="invalid OTLP JSON"):
        parse_export(json_bytes(otlp_json(startTimeUnixNano="yesterday")), "application/json")


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedExport):
        parse_export(b"[" * 100_000 + b"]" * 100_000, "application/json")


def test_json_and_protobuf_of_the_same_export_are_equal(recorder) -> None:
    recorder.record("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 7})
    request = recorder.request()
    assert parse_export(json_bytes(to_otlp_json(request)), "application/json") == request


def to_otlp_json(request: ExportTraceServiceRequest) -> dict:
    """proto3 JSON with ids rewritten to OTLP's hex, as OTLP/JSON exporters send them."""
    document = json_format.MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex().upper()
    return document


ids = st.binary(min_size=8, max_size=8).filter(any)
attribute_values = st.one_of(
    st.text(max_size=20).map(lambda s: {"stringValue": s}),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: {"intValue": str(i)}),
    st.booleans().map(lambda b: {"boolValue": b}),
)


@settings(max_examples=40, deadline=None)
@given(
    spans=st.lists(
        st.fixed_dictionaries(
            {
                "trace": st.binary(min_size=16, max_size=16).filter(any),
                "span": ids,
                "name": st.text(max_size=30),
                "start": st.integers(0, 2**64 - 1),
                "attrs": st.dictionaries(st.text(min_size=1, max_size=10), attribute_values, max_size=4),
            }
        ),
        max_size=5,
    )
)
def test_otlp_json_round_trips_to_the_same_request(spans: list[dict]) -> None:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for item in spans:
        span = scope_spans.spans.add(
            trace_id=item["trace"], span_id=item["span"], name=item["name"], start_time_unix_nano=item["start"]
        )
        for key, value in item["attrs"].items():
            json_format.ParseDict({"key": key, "value": value}, span.attributes.add())
    assert parse_export(json_bytes(to_otlp_json(request)), "application/json") == request


# --- encode_response / encode_status ---------------------------------------------------


def partial_response() -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    response.partial_success.error_message = "span ab: gen_ai.usage.input_tokens is negative (-5)"
    return response


def test_response_round_trips_in_protobuf() -> None:
    body, content_type = encode_response(partial_response(), "application/x-protobuf")
    assert content_type == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(body) == partial_response()
    assert encode_response(partial_response(), "application/protobuf")[1] == "application/protobuf"


def test_response_round_trips_in_otlp_json_camel_case() -> None:
    body, content_type = encode_response(partial_response(), "application/json; charset=utf-8")
    assert content_type == "application/json"
    document = json.loads(body)
    assert document["partialSuccess"]["errorMessage"].startswith("span ab")
    assert int(document["partialSuccess"]["rejectedSpans"]) == 2
    parsed = ExportTraceServiceResponse()
    json_format.ParseDict(document, parsed)
    assert parsed == partial_response()


def test_empty_response_encodes_empty() -> None:
    assert encode_response(ExportTraceServiceResponse(), "application/x-protobuf")[0] == b""
    assert json.loads(encode_response(ExportTraceServiceResponse(), "application/json")[0]) == {}


def test_status_round_trips_in_protobuf() -> None:
    body, content_type = encode_status(3, "invalid protobuf: truncated", "application/x-protobuf")
    assert content_type == "application/x-protobuf"
    assert status_pb2.Status.FromString(body) == status_pb2.Status(code=3, message="invalid protobuf: truncated")


def test_status_round_trips_in_json_and_falls_back_to_json() -> None:
    for content_type in ("application/json", "text/plain", ""):
        body, answered = encode_status(8, "too large", content_type)
        assert answered == "application/json"
        assert json.loads(body) == {"code": 8, "message": "too large"}
