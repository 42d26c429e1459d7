"""The transport registry is the one list of channel kinds: the model's choices, the channel form's
fields and the API's help all come from it, and every kind has its own test file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alerts.models import Channel
from alerts.transports import (
    TRANSPORTS,
    ChannelConfig,
    ConfigError,
    ConfigField,
    Notification,
    Sent,
    channel_kinds,
    config_help,
    config_of,
    validate_config,
)
from frontend.forms import ChannelForm


@dataclass(frozen=True)
class TeamsConfig(ChannelConfig):
    hook: str
    mention: tuple[str, ...]


class TeamsTransport:
    """A kind that does not exist, registered only for these tests."""

    kind = "teams"
    label = "Teams"
    fields = (
        ConfigField("hook", "Teams hook", "the workflow URL"),
        ConfigField("mention", "Mention", "comma-separated names", many=True),
    )
    config_type = TeamsConfig

    def parse_config(self, raw: Mapping[str, Any]) -> TeamsConfig:
        if not raw.get("hook"):
            raise ConfigError("hook is required", field="hook")
        return TeamsConfig(raw["hook"], tuple(raw.get("mention") or ()))

    def send(self, config: TeamsConfig, notification: Notification, *, secret: str, delivery_id: int | None) -> Sent:
        return Sent(200, "pretend")


@pytest.fixture
def teams(monkeypatch) -> TeamsTransport:  # noqa: ANN001
    transport = TeamsTransport()
    monkeypatch.setitem(TRANSPORTS, "teams", transport)
    return transport


def test_every_registered_kind_has_its_own_test_file() -> None:
    files = {p.stem.removeprefix("test_transport_") for p in Path(__file__).parent.glob("test_transport_*.py")}
    assert files == set(TRANSPORTS)


def test_the_kinds_in_registry_order_with_their_labels() -> None:
    assert channel_kinds() == [
        ("webhook", "Webhook"),
        ("slack", "Slack incoming webhook"),
        ("email", "Email"),
        ("pagerduty", "PagerDuty Events v2"),
    ]
    assert config_help() == "webhook: {url}; slack: {url}; email: {to: [...]}; pagerduty: {routing_key}"


@pytest.mark.django_db
def test_a_kind_added_to_the_registry_is_a_channel_kind_a_form_field_and_api_help(acme, teams) -> None:  # noqa: ANN001
    assert ("teams", "Teams") in channel_kinds()
    assert "teams: {hook, mention: [...]}" in config_help()
    channel = Channel(
        project=acme,
        kind="teams",
        name="t",
        config=validate_config("teams", {"hook": "https://x.example", "mention": ["ann"]}),
    )
    channel.full_clean()  # the model accepts the kind
    assert channel.config == {"hook": "https://x.example", "mention": ["ann"]}
    assert config_of("teams", channel.config) == TeamsConfig("https://x.example", ("ann",))
    form = ChannelForm({"name": "t", "kind": "teams", "hook": "https://x.example", "enabled": "on"})
    assert list(form.fields) == ["name", "kind", "url", "to", "routing_key", "hook", "mention", "enabled"]
    assert form.is_valid(), form.errors
    assert form.config() == {"hook": "https://x.example", "mention": ""}
    assert "Teams: the workflow URL." in form.fields["hook"].help_text


def test_a_shared_config_field_says_which_kinds_use_it() -> None:
    assert ChannelForm().fields["url"].help_text == (
        "Webhook: the URL the signed JSON is POSTed to. Slack incoming webhook: the incoming-webhook URL."
    )


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unknown channel kind 'fax'; use one of email, pagerduty, slack, webhook"):
        validate_config("fax", {})
