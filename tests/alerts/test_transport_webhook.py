"""The webhook transport: the notification JSON, signed so a receiver can verify it; its config."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from alerts.models import Delivery
from alerts.transports import ConfigError, validate_config
from alerts.transports.webhook import verify
from tests.alerts.conftest import NOW, fire_daily_budget, make_channel, send_pending


@pytest.mark.django_db
def test_the_receiver_can_verify_the_webhook_signature(acme, receiver) -> None:  # noqa: ANN001
    channel = make_channel(acme, url=receiver.url)
    fire_daily_budget(acme, channel)
    send_pending(NOW)
    [request] = receiver.requests
    timestamp, header = request.headers["x-costwatch-timestamp"], request.headers["x-costwatch-signature"]
    # What a receiver does, written out without Costwatch code:
    expected = hmac.new(channel.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, "sha256=" + expected)
    assert abs(time.time() - int(timestamp)) < 60
    assert verify(channel.secret, timestamp, request.body, header)
    assert not verify("another-secret", timestamp, request.body, header)
    assert not verify(channel.secret, timestamp, request.body.replace(b"6.5", b"0.5"), header)
    assert not verify(channel.secret, str(int(timestamp) - 3600), request.body, header)
    assert request.json()["delivery_id"] == Delivery.objects.get().pk
    assert (request.headers["x-costwatch-event"], request.json()["event"]) == ("firing", "firing")


def test_a_webhook_config_is_one_http_url() -> None:
    assert validate_config("webhook", {"url": " https://hooks.example/x ", "extra": 1}) == {
        "url": "https://hooks.example/x"
    }
    for config, message in [({"url": "ftp://example.com"}, r"must be an http\(s\) URL"), ({}, "url is required")]:
        with pytest.raises(ConfigError, match=message) as refused:
            validate_config("webhook", config)
        assert refused.value.field == "url"
