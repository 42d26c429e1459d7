"""The email transport: plain text and an escaped HTML part to a real SMTP server; its config."""

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
def test_email_reaches_an_smtp_server(acme, email_to_sink) -> None:  # noqa: ANN001
    fire_daily_budget(acme, make_channel(acme, "email", to=["oncall@acme.test", "finance@acme.test"]))
    assert [o.status for o in send_pending(NOW)] == ["sent"]
    [message] = email_to_sink.messages
    assert message["Subject"] == "[Costwatch] FIRING: Daily budget (project acme)"
    assert sorted(email_to_sink.envelopes[0].rcpt_tos) == ["finance@acme.test", "oncall@acme.test"]
    plain, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert "Budget reached: project acme spent $6.50 of $5.00" in plain
    assert f"/alerts/incidents/{Incident.objects.get().pk}/" in plain
    assert "<bdi>Budget reached: project acme spent $6.50 of $5.00" in html


@pytest.mark.django_db
def test_email_subject_is_one_line_and_the_html_part_is_escaped(acme, email_to_sink) -> None:  # noqa: ANN001
    fire_for_user(acme, EVIL, make_channel(acme, "email", to=["oncall@acme.test"]))
    assert [o.status for o in send_pending(NOW)] == ["sent"]
    [message] = email_to_sink.messages
    assert message["Subject"].startswith("[Costwatch]")
    assert "<U+000A>Subject: x" in message["Subject"]
    plain, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert "<!channel>" not in html and "&lt;!channel&gt;" in html
    assert "<bdi>" in html and "\u202e" not in html
    assert "<U+202E>evil<U+000A>Subject: x" in plain


def test_an_email_config_lists_addresses_as_a_list_or_comma_separated() -> None:
    assert validate_config("email", {"to": "ops@example.com, cfo@example.com"}) == {
        "to": ["ops@example.com", "cfo@example.com"]
    }
    for config, message in [
        ({"to": ["not-an-address"]}, "is not an email address"),
        ({"to": []}, "to must list 1 to 20 email addresses"),
    ]:
        with pytest.raises(ConfigError, match=message) as refused:
            validate_config("email", config)
        assert refused.value.field == "to"
