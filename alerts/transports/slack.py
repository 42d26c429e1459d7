"""Slack incoming webhook: a Block Kit message with the facts and a button to the incident."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.transports.base import ChannelConfig, ConfigField, Notification, Sent
from alerts.transports.http import checked_url, post
from costwatch.display import one_line, slack_mrkdwn

EMOJI = {"firing": ":rotating_light:", "reminder": ":bell:", "resolved": ":white_check_mark:", "test": ":wave:"}


@dataclass(frozen=True)
class SlackConfig(ChannelConfig):
    url: str


def message_of(notification: Notification) -> dict[str, Any]:
    """Block Kit message; every text from the payload (user ids, rule names) escaped for mrkdwn."""
    emoji = EMOJI.get(notification.event, "")
    if notification.event == "firing" and notification.severity == "warning":
        emoji = ":warning:"
    summary = slack_mrkdwn(notification.summary())
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": one_line(notification.title())[:150], "emoji": False},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {summary}"[:3000]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{slack_mrkdwn(value)}"[:2000]}
                for label, value in notification.facts()
            ],
        },
    ]
    if notification.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open incident"},
                        "url": notification.link,
                    },
                ],
            }
        )
    return {"text": f"{emoji} {summary}", "blocks": blocks}


class SlackTransport:
    kind = "slack"
    label = "Slack incoming webhook"
    fields = (ConfigField("url", "URL", "the incoming-webhook URL"),)
    config_type = SlackConfig

    def parse_config(self, raw: Mapping[str, Any]) -> SlackConfig:
        return SlackConfig(checked_url(raw))

    def send(self, config: SlackConfig, notification: Notification, *, secret: str, delivery_id: int | None) -> Sent:
        body = json.dumps(message_of(notification)).encode()
        return post(config.url, body, {"Content-Type": "application/json"})


TRANSPORT = SlackTransport()
