"""PagerDuty Events API v2: trigger on firing/reminder/test, resolve on resolved; one dedup_key per incident."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings

from alerts.notifications import Notification
from costwatch.display import one_line
from alerts.transports import ConfigError, Sent
from alerts.transports.http import post

if TYPE_CHECKING:
    from alerts.models import Channel

ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{20,64}$")


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    key = config.get("routing_key")
    if not isinstance(key, str) or not ROUTING_KEY.match(key.strip()):
        raise ConfigError("routing_key must be the integration key of a PagerDuty Events API v2 integration "
                          "(32 letters and digits)")
    return {"routing_key": key.strip()}


def event_of(channel: Channel, notification: Notification) -> dict[str, Any]:
    p = notification.payload
    base = {"routing_key": channel.config["routing_key"], "dedup_key": notification.dedup_key}
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


def send(channel: Channel, notification: Notification, *, delivery_id: int | None = None) -> Sent:
    body = json.dumps(event_of(channel, notification)).encode()
    return post(settings.COSTWATCH_PAGERDUTY_URL, body, {"Content-Type": "application/json"})
