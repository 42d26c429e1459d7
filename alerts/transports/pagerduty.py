"""PagerDuty Events API v2: trigger on firing/reminder/test, resolve on resolved; one dedup_key per incident."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from alerts.transports.base import (
    ChannelConfig,
    ConfigError,
    ConfigField,
    Notification,
    Sent,
)
from alerts.transports.http import post
from costwatch.display import one_line

ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{20,64}$")


@dataclass(frozen=True)
class PagerDutyConfig(ChannelConfig):
    routing_key: str


def event_of(config: PagerDutyConfig, notification: Notification) -> dict[str, Any]:
    p = notification.payload
    base = {"routing_key": config.routing_key, "dedup_key": notification.dedup_key}
    if notification.event == "resolved":
        return {**base, "event_action": "resolve"}
    event: dict[str, Any] = {
        **base,
        "event_action": "trigger",
        "client": "Costwatch",
        "payload": {
            # Plain text, one line each: a newline or bidi override in a user id is shown, not obeyed.
            "summary": one_line(notification.summary())[:1024],
            "source": f"costwatch/{p.get('project', '')}",
            "severity": "critical" if notification.severity == "critical" else "warning",
            "component": one_line(notification.group_label),
            "group": one_line((p.get("rule") or {}).get("name", "")),
            "class": (p.get("rule") or {}).get("kind", ""),
            "timestamp": p.get("at"),
            "custom_details": {label: one_line(value) for label, value in notification.facts()},
        },
    }
    if notification.link:
        event["links"] = [{"href": notification.link, "text": "Costwatch incident"}]
        event["client_url"] = notification.link
    return event


class PagerDutyTransport:
    """Sends to ``COSTWATCH_PAGERDUTY_URL`` (the Events API v2 endpoint)."""

    kind = "pagerduty"
    label = "PagerDuty Events v2"
    fields = (ConfigField("routing_key", "PagerDuty routing key", "the Events API v2 integration key", max_length=200),)
    config_type = PagerDutyConfig

    def parse_config(self, raw: Mapping[str, Any]) -> PagerDutyConfig:
        key = raw.get("routing_key")
        if not isinstance(key, str) or not ROUTING_KEY.match(key.strip()):
            raise ConfigError(
                "routing_key must be the integration key of a PagerDuty Events API v2 integration "
                "(32 letters and digits)",
                field="routing_key",
            )
        return PagerDutyConfig(key.strip())

    def send(
        self, config: PagerDutyConfig, notification: Notification, *, secret: str, delivery_id: int | None
    ) -> Sent:
        body = json.dumps(event_of(config, notification)).encode()
        return post(settings.COSTWATCH_PAGERDUTY_URL, body, {"Content-Type": "application/json"})


TRANSPORT = PagerDutyTransport()
