"""Generic webhook: the notification as JSON, signed with the channel's secret.

Signature scheme (also in README "Alerts"): ``X-Costwatch-Timestamp`` carries Unix seconds and
``X-Costwatch-Signature`` is ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + raw body).
Receivers recompute it over the exact bytes received and reject old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.transports.base import ChannelConfig, ConfigField, Notification, Sent
from alerts.transports.http import checked_url, post

SIGNATURE_HEADER = "X-Costwatch-Signature"
TIMESTAMP_HEADER = "X-Costwatch-Timestamp"


@dataclass(frozen=True)
class WebhookConfig(ChannelConfig):
    url: str


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, timestamp: str, body: bytes, header: str, *, max_age: float = 300, now: float | None = None
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= max_age and hmac.compare_digest(signature(secret, timestamp, body), header)


def body_of(notification: Notification, delivery_id: int | None) -> bytes:
    return json.dumps({**notification.payload, "delivery_id": delivery_id}, sort_keys=True).encode()


class WebhookTransport:
    kind = "webhook"
    label = "Webhook"
    fields = (ConfigField("url", "URL", "the URL the signed JSON is POSTed to"),)
    config_type = WebhookConfig

    def parse_config(self, raw: Mapping[str, Any]) -> WebhookConfig:
        return WebhookConfig(checked_url(raw))

    def send(self, config: WebhookConfig, notification: Notification, *, secret: str, delivery_id: int | None) -> Sent:
        body = body_of(notification, delivery_id)
        timestamp = str(int(time.time()))
        return post(
            config.url,
            body,
            {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature(secret, timestamp, body),
                "X-Costwatch-Event": notification.event,
                "X-Costwatch-Delivery": str(delivery_id or ""),
            },
        )


TRANSPORT = WebhookTransport()
