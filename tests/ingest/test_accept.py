"""The accept ladder both transports share: each refusal's kind, message and retry delay."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from costwatch.usage.models import LlmCall
from ingest.accept import ExportRefused, Refusal, accept_export
from ingest.otlp import PayloadTooLarge

PROTOBUF = "application/x-protobuf"
CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def _refusal(secret: str | None, payload: object, content_type: str = PROTOBUF) -> ExportRefused:
    with pytest.raises(ExportRefused) as refused:
        accept_export(secret, payload, content_type, address="198.51.100.7")  # type: ignore[arg-type]
    return refused.value


def _never_read() -> bytes:
    raise AssertionError("the payload of a refused export must not be read")


@pytest.mark.django_db
def test_an_export_is_stored_and_rejected_spans_are_listed(recorder, acme, acme_ingest_key) -> None:
    recorder.record("chat ok", CHAT, kind=SpanKind.CLIENT)
    recorder.record("chat bad", {**CHAT, "gen_ai.usage.output_tokens": -1}, kind=SpanKind.CLIENT)
    response = accept_export(acme_ingest_key, recorder.payload(), PROTOBUF, address="198.51.100.7")
    assert response.partial_success.rejected_spans == 1
    assert "gen_ai.usage.output_tokens is negative" in response.partial_success.error_message
    assert LlmCall.objects.filter(project=acme).count() == 1


@pytest.mark.django_db
def test_missing_unknown_and_read_keys_are_unauthenticated_before_the_payload_is_read(acme, acme_read_key) -> None:
    for secret, needle in (
        (None, "missing ingest key"),
        ("", "missing ingest key"),
        ("cw_ingest_nope", "invalid, revoked or read-only key"),
        (acme_read_key, "invalid, revoked or read-only key"),
    ):
        refusal = _refusal(secret, _never_read)
        assert (refusal.kind, refusal.retry_after) == (Refusal.UNAUTHENTICATED, None)
        assert needle in refusal.message


@pytest.mark.django_db
def test_too_many_unknown_keys_from_an_address_are_throttled(acme, acme_ingest_key, settings) -> None:
    settings.COSTWATCH_BAD_KEYS_PER_ADDRESS = 2
    for n in range(2):
        assert _refusal(f"cw_ingest_guess{n}", _never_read).kind == Refusal.UNAUTHENTICATED
    refusal = _refusal(acme_ingest_key, _never_read)
    assert refusal.kind == Refusal.THROTTLED and refusal.retry_after and refusal.retry_after > 0
    assert "too many invalid keys" in refusal.message


@pytest.mark.django_db
def test_other_content_types_are_unsupported(acme, acme_ingest_key) -> None:
    refusal = _refusal(acme_ingest_key, _never_read, "text/plain; charset=utf-8")
    assert refusal.kind == Refusal.UNSUPPORTED
    assert refusal.message == (
        "unsupported content type 'text/plain'; "
        "use one of application/x-protobuf, application/protobuf, application/json"
    )


@pytest.mark.django_db
def test_over_the_rate_the_export_is_throttled_before_the_payload_is_read(acme, acme_ingest_key, settings) -> None:
    settings.COSTWATCH_INGEST_RATE_PER_MINUTE = 1
    accept_export(acme_ingest_key, b"", PROTOBUF, address="198.51.100.7")
    refusal = _refusal(acme_ingest_key, _never_read)
    assert refusal.kind == Refusal.THROTTLED and 59 <= (refusal.retry_after or 0) <= 60
    assert refusal.message == "rate limit of 1 exports per minute exceeded"


@pytest.mark.django_db
def test_the_transports_reader_decides_what_is_too_large(acme, acme_ingest_key) -> None:
    def oversized() -> bytes:
        raise PayloadTooLarge("body exceeds the limit of 10 bytes")

    refusal = _refusal(acme_ingest_key, oversized)
    assert (refusal.kind, refusal.message, refusal.retry_after) == (
        Refusal.TOO_LARGE,
        "body exceeds the limit of 10 bytes",
        None,
    )


@pytest.mark.django_db
def test_undecodable_payloads_are_invalid(acme, acme_ingest_key) -> None:
    refusal = _refusal(acme_ingest_key, b"\xff\xff\xff\x0f")
    assert refusal.kind == Refusal.INVALID and refusal.message.startswith("invalid protobuf")
    refusal = _refusal(acme_ingest_key, b"{not json", "application/json")
    assert refusal.kind == Refusal.INVALID and refusal.message.startswith("invalid JSON")
