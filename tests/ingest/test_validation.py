"""Poison exports, undecodable text and absurd times: rejected per span or with a 400, never a 5xx.

Inputs from ../shared/cases/reliability/ (README there), sent through both transports.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from costwatch.usage.models import LlmCall, SpanAttribution
from ingest.otlp import MalformedExport, OtlpError, parse_export
from ingest.validation import TimeWindow
from tests.conftest import REPO
from tests.ingest.test_grpc import _raw_export, start_receiver  # noqa: F401 - fixture used below

CASES = REPO.parent / "shared" / "cases" / "reliability"

pytestmark = pytest.mark.django_db(transaction=True)


def _case(name: str) -> dict[str, Any]:
    path = CASES / name
    assert path.exists(), f"missing case file {path}"
    return json.loads(path.read_text())


def _nanos(at: datetime) -> str:
    return str(int(at.timestamp() * 1_000_000_000))


def _good_span(
    trace: str = "11111111111111111111111111111111", span: str = "2222222222222222", user: str = "alice"
) -> dict[str, Any]:
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    return {
        "traceId": trace,
        "spanId": span,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": _nanos(start),
        "endTimeUnixNano": _nanos(start + timedelta(seconds=1)),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "5"}},
            {"key": "enduser.id", "value": {"stringValue": user}},
        ],
    }


def _with_good_span(case: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(case)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"].append(_good_span())
    return body


def _now_dated(case: dict[str, Any]) -> dict[str, Any]:
    """The case with its spans moved to five minutes ago (the case files carry the day they were made)."""
    body = copy.deepcopy(case)
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    for span in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["startTimeUnixNano"] = _nanos(start)
        span["endTimeUnixNano"] = _nanos(start + timedelta(seconds=1))
    return body


def _post_json(url: str, body: bytes, key: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/v1/traces",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "x-costwatch-key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _protobuf(body: dict[str, Any]) -> bytes:
    return parse_export(json.dumps(body).encode(), "application/json").SerializeToString()


# --- NUL and other text PostgreSQL cannot store -------------------------------------------------


def test_a_nul_in_a_user_id_rejects_that_span_over_http_and_keeps_the_rest(live_server, acme, acme_ingest_key) -> None:
    body = _with_good_span(_now_dated(_case("nul_user.json")))
    status, answer = _post_json(live_server.url, json.dumps(body).encode(), acme_ingest_key)
    assert status == 200, answer
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "d7ad6b7169203331" in answer["partialSuccess"]["errorMessage"]
    assert "U+0000" in answer["partialSuccess"]["errorMessage"]
    assert list(LlmCall.objects.filter(project=acme).values_list("span_id", "user")) == [("2222222222222222", "alice")]


def test_a_nul_in_a_user_id_rejects_that_span_over_grpc_and_keeps_the_rest(
    start_receiver,
    acme,  # noqa: F811
    acme_ingest_key,
) -> None:
    port = start_receiver()
    body = _with_good_span(_now_dated(_case("nul_user.json")))
    code, _call, response = _raw_export(port, _protobuf(body), acme_ingest_key)
    assert code == grpc.StatusCode.OK
    assert response.partial_success.rejected_spans == 1
    assert "U+0000" in response.partial_success.error_message
    assert list(LlmCall.objects.filter(project=acme).values_list("span_id", flat=True)) == ["2222222222222222"]


def test_a_nul_in_any_string_of_a_call_or_an_attribution_span_is_rejected_alone(
    live_server, acme, acme_ingest_key
) -> None:
    model = _good_span(span="3333333333333333")
    model["attributes"][1]["value"]["stringValue"] = "gpt-4o\x00"
    root = {
        "traceId": "44444444444444444444444444444444",
        "spanId": "5555555555555555",
        "name": "POST /x\x00",
        "kind": 2,
        "startTimeUnixNano": model["startTimeUnixNano"],
        "endTimeUnixNano": model["endTimeUnixNano"],
        "attributes": [{"key": "http.route", "value": {"stringValue": "/x\x00y"}}],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [model, root, _good_span()]}]}]}
    status, answer = _post_json(live_server.url, json.dumps(body).encode(), acme_ingest_key)
    assert status == 200, answer
    assert answer["partialSuccess"]["rejectedSpans"] == "2"
    message = answer["partialSuccess"]["errorMessage"]
    assert "3333333333333333: model contains U+0000" in message
    assert "5555555555555555: route contains U+0000" in message
    assert LlmCall.objects.filter(project=acme).count() == 1
    assert not SpanAttribution.objects.filter(project=acme, span_id="5555555555555555").exists()


# --- decoding: every failure is a 400 with a message ---------------------------------------------


@pytest.mark.parametrize("name", ["json_lone_surrogate_key_500.json", "json_lone_surrogate_value_500.json"])
def test_lone_surrogate_escapes_answer_400_with_a_message(live_server, acme, acme_ingest_key, name: str) -> None:
    raw = (CASES / name).read_bytes()
    status, answer = _post_json(live_server.url, raw, acme_ingest_key)
    assert status == 400
    assert "surrogate" in answer["message"]
    assert answer["code"] == 3


def test_a_surrogate_pair_escape_is_text_and_is_stored(live_server, acme, acme_ingest_key) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [_good_span(user="\U0001f600 smile")]}]}]}
    raw = json.dumps(body).encode()  # ensure_ascii: the emoji travels as the pair \ud83d\ude00
    assert b"\\ud83d\\ude00" in raw
    status, answer = _post_json(live_server.url, raw, acme_ingest_key)
    assert status == 200, answer
    assert LlmCall.objects.get(project=acme).user == "\U0001f600 smile"


# --- the time window -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["time_1970.json", "time_2554.json"])
def test_absurd_start_times_are_rejected_per_span_over_both_transports(
    live_server,
    start_receiver,
    settings,  # noqa: F811
    acme,
    acme_ingest_key,
    name: str,
) -> None:
    settings.COSTWATCH_INGEST_MAX_AGE_DAYS = 31
    body = _with_good_span(_case(name))
    status, answer = _post_json(live_server.url, json.dumps(body).encode(), acme_ingest_key)
    assert status == 200, answer
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "start time" in answer["partialSuccess"]["errorMessage"]
    code, _call, response = _raw_export(start_receiver(), _protobuf(body), acme_ingest_key)
    assert code == grpc.StatusCode.OK
    assert response.partial_success.rejected_spans == 1
    assert list(LlmCall.objects.filter(project=acme).values_list("span_id", flat=True)) == ["2222222222222222"]


def test_a_call_ending_before_it_starts_is_rejected(live_server, acme, acme_ingest_key) -> None:
    span = _good_span()
    span["startTimeUnixNano"], span["endTimeUnixNano"] = span["endTimeUnixNano"], span["startTimeUnixNano"]
    status, answer = _post_json(
        live_server.url, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode(), acme_ingest_key
    )
    assert status == 200
    assert "is before start time" in answer["partialSuccess"]["errorMessage"]
    assert not LlmCall.objects.filter(project=acme).exists()


def test_the_window_is_configurable_for_backfills(live_server, settings, acme, acme_ingest_key) -> None:
    span = _good_span()
    old = datetime.now(timezone.utc) - timedelta(days=90)
    span["startTimeUnixNano"], span["endTimeUnixNano"] = _nanos(old), _nanos(old + timedelta(seconds=2))
    raw = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    settings.COSTWATCH_INGEST_MAX_AGE_DAYS = 31
    status, answer = _post_json(live_server.url, raw, acme_ingest_key)
    assert "more than 31 days before now" in answer["partialSuccess"]["errorMessage"]
    settings.COSTWATCH_INGEST_MAX_AGE_DAYS = 120
    status, answer = _post_json(live_server.url, raw, acme_ingest_key)
    assert status == 200 and "partialSuccess" not in answer
    assert LlmCall.objects.filter(project=acme).count() == 1


def test_time_window_edges() -> None:
    window = TimeWindow(max_age=timedelta(days=31), max_future=timedelta(hours=1))
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    second = timedelta(seconds=1)
    assert window.problem(now - timedelta(days=31), now, now) is None
    assert "before now" in window.problem(now - timedelta(days=31) - second, now, now)
    assert window.problem(now + timedelta(hours=1), now + timedelta(hours=1), now) is None
    assert "in the future" in window.problem(now + timedelta(hours=1) + second, now + timedelta(hours=2), now)
    assert window.problem(now, now, now) is None  # zero duration is fine


# --- fuzzing: both decoders, then the whole view ---------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "\udfff", "\u202e", "x" * 300, "", "gpt-4o", "chat"]
)
_SCALAR = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | _TEXT
_ANY_VALUE = st.fixed_dictionaries(
    {},
    optional={
        "stringValue": _SCALAR,
        "intValue": _SCALAR,
        "doubleValue": _SCALAR,
        "boolValue": _SCALAR,
        "arrayValue": st.just({"values": [{"stringValue": "\x00"}]}),
    },
)
_ATTRIBUTE = st.fixed_dictionaries(
    {
        "key": _TEXT
        | st.sampled_from(
            ["enduser.id", "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens", "http.route"]
        ),
        "value": _ANY_VALUE | _SCALAR,
    }
)
_ID = st.sampled_from(["", "00" * 16, "ab" * 16, "ab" * 8, "zz" * 8, "AB" * 8]) | _TEXT | st.integers()
_SPAN = st.fixed_dictionaries(
    {},
    optional={
        "traceId": _ID,
        "spanId": _ID,
        "parentSpanId": _ID,
        "name": _SCALAR,
        "kind": _SCALAR,
        "startTimeUnixNano": _SCALAR | st.sampled_from(["1000000000", "18446744073709551615", "-1", "1e30"]),
        "endTimeUnixNano": _SCALAR,
        "attributes": st.lists(_ATTRIBUTE, max_size=4) | _SCALAR,
    },
)
_EXPORT = st.fixed_dictionaries(
    {
        "resourceSpans": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "resource": st.fixed_dictionaries({"attributes": st.lists(_ATTRIBUTE, max_size=2)}) | _SCALAR,
                    "scopeSpans": st.lists(
                        st.fixed_dictionaries({"spans": st.lists(_SPAN, max_size=3) | _SCALAR}), max_size=2
                    )
                    | _SCALAR,
                },
            ),
            max_size=2,
        )
        | _SCALAR
    }
) | st.dictionaries(_TEXT, _SCALAR, max_size=3)


def _valid_protobuf() -> bytes:
    return _protobuf({"resourceSpans": [{"scopeSpans": [{"spans": [_good_span()]}]}]})


@hypothesis_settings(max_examples=2000, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_fuzz_protobuf_decoder_raises_only_otlp_errors(payload: bytes) -> None:
    try:
        parse_export(payload, "application/x-protobuf")
    except OtlpError as exc:
        assert isinstance(exc, MalformedExport) and exc.message


@hypothesis_settings(max_examples=1000, deadline=None, database=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_fuzz_mutated_protobuf_raises_only_otlp_errors(position: int, byte: int) -> None:
    data = bytearray(_valid_protobuf())
    data[position % len(data)] = byte
    try:
        parse_export(bytes(data), "application/x-protobuf")
    except OtlpError as exc:
        assert isinstance(exc, MalformedExport) and exc.message


@hypothesis_settings(max_examples=2000, deadline=None, database=None)
@given(_EXPORT | st.binary(max_size=200))
def test_fuzz_json_decoder_raises_only_otlp_errors(document: object) -> None:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    try:
        parse_export(raw, "application/json")
    except OtlpError as exc:
        assert isinstance(exc, MalformedExport) and exc.message


@pytest.mark.django_db(transaction=False)
@hypothesis_settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=_EXPORT, as_protobuf=st.booleans())
def test_fuzz_the_ingest_view_answers_no_5xx(acme, acme_ingest_key, document: object, as_protobuf: bool) -> None:
    raw = json.dumps(document).encode()
    content_type = "application/json"
    if as_protobuf:
        try:
            raw, content_type = parse_export(raw, "application/json").SerializeToString(), "application/x-protobuf"
        except MalformedExport:
            pass
    response = Client().post("/v1/traces", raw, content_type=content_type, HTTP_X_COSTWATCH_KEY=acme_ingest_key)
    # 415: the test client sends no Content-Type with an empty body.
    assert response.status_code in (200, 400, 415), (response.status_code, response.content[:300])


def test_a_surrogate_encoded_in_protobuf_is_refused_over_both_transports(
    live_server,
    start_receiver,  # noqa: F811
    acme,
    acme_ingest_key,
) -> None:
    # Protobuf's counterpart of a lone surrogate escape: the UTF-8-style bytes of U+D800 (not UTF-8).
    payload = _protobuf({"resourceSpans": [{"scopeSpans": [{"spans": [_good_span(user="XXX")]}]}]})
    assert payload.count(b"XXX") == 1
    poisoned = payload.replace(b"XXX", b"\xed\xa0\x80")
    code, call, _response = _raw_export(start_receiver(), poisoned, acme_ingest_key)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf" in call.details()
    request = urllib.request.Request(
        f"{live_server.url}/v1/traces",
        data=poisoned,
        method="POST",
        headers={"Content-Type": "application/x-protobuf", "x-costwatch-key": acme_ingest_key},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert not LlmCall.objects.filter(project=acme).exists()
