"""The Slack transport: a readable Block Kit message in which text from spans is shown, never obeyed."""

from __future__ import annotations

import pytest

from alerts.models import Incident
from alerts.transports import ConfigError, validate_config
from tests.alerts.conftest import (
    EVIL,
    NOW,
    fire_daily_budget,
    fire_for_user,
    make_channel,
    send_pending,
)


@pytest.mark.django_db
def test_slack_gets_a_readable_block_kit_message(acme, receiver) -> None:  # noqa: ANN001
    fire_daily_budget(acme, make_channel(acme, "slack", url=receiver.url + "/services/T000/B000/XXX"))
    send_pending(NOW)
    message = receiver.requests[0].json()
    assert message["text"].startswith(":rotating_light: Budget reached: project acme spent $6.50 of $5.00")
    header, summary, facts, actions = message["blocks"]
    assert header["type"] == "header" and "FIRING: Daily budget" in header["text"]["text"]
    assert summary["type"] == "section"
    assert {"type": "mrkdwn", "text": "*Value*\n$6.5"} in facts["fields"]
    incident = Incident.objects.get()
    assert actions["elements"][0]["url"] == f"https://costwatch.example/alerts/incidents/{incident.pk}/"


@pytest.mark.django_db
def test_slack_mrkdwn_is_escaped_so_nobody_is_pinged_and_no_link_is_disguised(acme, receiver) -> None:  # noqa: ANN001
    fire_for_user(acme, EVIL, make_channel(acme, "slack", url=receiver.url + "/services/T/B/X"))
    assert [o.status for o in send_pending(NOW)] == ["sent"]
    message = receiver.requests[0].json()
    texts = [message["text"]] + [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    texts += [f["text"] for b in message["blocks"] for f in b.get("fields", [])]
    joined = "\n".join(texts)
    assert "<!channel>" not in joined and "<http://evil.example" not in joined
    assert "&lt;!channel&gt;" in message["text"]
    assert "&lt;http://evil.example/reset|Re-authenticate&gt; &amp;" in message["text"]
    assert "<U+202E>evil<U+000A>Subject: x" in message["text"]


def test_a_slack_config_is_the_incoming_webhook_url() -> None:
    assert validate_config("slack", {"url": "https://hooks.slack.com/services/T/B/X"}) == {
        "url": "https://hooks.slack.com/services/T/B/X"
    }
    with pytest.raises(ConfigError, match="url is required"):
        validate_config("slack", {})
