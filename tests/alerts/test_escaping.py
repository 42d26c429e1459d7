"""Attacker-controlled text (a user id from a span) in Slack, PagerDuty and email: shown, never obeyed."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from alerts.services import evaluate_rules
from tests.alerts.conftest import make_channel, make_rule, put_spend, send_pending

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
EVIL = "<!channel> Your session expired <http://evil.example/reset|Re-authenticate> & \u202eevil\nSubject: x"


def _fire_for_user(project, *channels) -> None:  # noqa: ANN001
    make_rule(project, list(channels), name="Per-user budget", scope="user", period="day", amount=Decimal(5))
    put_spend(project, NOW - timedelta(hours=1), "6.5", dimension="user", key=EVIL)
    evaluate_rules(NOW)


def test_slack_mrkdwn_is_escaped_so_nobody_is_pinged_and_no_link_is_disguised(acme, receiver) -> None:  # noqa: ANN001
    _fire_for_user(acme, make_channel(acme, "slack", url=receiver.url + "/services/T/B/X"))
    assert [o.status for o in send_pending(NOW)] == ["sent"]
    message = receiver.requests[0].json()
    texts = [message["text"]] + [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    texts += [f["text"] for b in message["blocks"] for f in b.get("fields", [])]
    joined = "\n".join(texts)
    assert "<!channel>" not in joined and "<http://evil.example" not in joined
    assert "&lt;!channel&gt;" in message["text"]
    assert "&lt;http://evil.example/reset|Re-authenticate&gt; &amp;" in message["text"]
    assert "<U+202E>evil<U+000A>Subject: x" in message["text"]


def test_pagerduty_gets_one_line_plain_text(acme, receiver, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_PAGERDUTY_URL = receiver.url + "/v2/enqueue"
    _fire_for_user(acme, make_channel(acme, "pagerduty", routing_key="R0123456789abcdef0123456789abcde"))
    send_pending(NOW)
    payload = receiver.requests[0].json()["payload"]
    assert "\n" not in payload["summary"] and "\u202e" not in payload["summary"]
    assert "<U+202E>evil<U+000A>Subject: x" in payload["component"]


def test_email_subject_is_one_line_and_the_html_part_is_escaped(acme, email_to_sink) -> None:  # noqa: ANN001
    _fire_for_user(acme, make_channel(acme, "email", to=["oncall@acme.test"]))
    assert [o.status for o in send_pending(NOW)] == ["sent"]
    [message] = email_to_sink.messages
    assert message["Subject"].startswith("[Costwatch]")
    assert "<U+000A>Subject: x" in message["Subject"]
    plain, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert "<!channel>" not in html and "&lt;!channel&gt;" in html
    assert "<bdi>" in html and "\u202e" not in html
    assert "<U+202E>evil<U+000A>Subject: x" in plain
