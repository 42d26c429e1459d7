"""Slack incoming webhook: a Block Kit message with the facts and a button to the incident."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alerts.notifications import Notification
from costwatch.display import one_line, slack_mrkdwn
from alerts.transports import Sent
from alerts.transports.http import checked_url, post

if TYPE_CHECKING:
    from alerts.models import Channel

EMOJI = {"firing": ":rotating_light:", "reminder": ":bell:", "resolved": ":white_check_mark:", "test": ":wave:"}


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"url": checked_url(config)}


def message_of(notification: Notification) -> dict[str, Any]:
    """Block Kit message; every text from the payload (user ids, rule names) escaped for mrkdwn."""
    emoji = EMOJI.get(notification.event, "")
    if notification.event == "firing" and notification.severity == "warning":
        emoji = ":warning:"
    summary = slack_mrkdwn(notification.summary())
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": one_line(notification.title())[:150], "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {summary}"[:3000]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{label}*\n{slack_mrkdwn(value)}"[:2000]} for label, value in notification.facts()
        ]},
    ]
    if notification.link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open incident"}, "url": notification.link},
        ]})
    return {"text": f"{emoji} {summary}", "blocks": blocks}


def send(channel: Channel, notification: Notification, *, delivery_id: int | None = None) -> Sent:
    body = json.dumps(message_of(notification)).encode()
    return post(channel.config["url"], body, {"Content-Type": "application/json"})
