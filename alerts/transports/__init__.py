"""The channel transports: one module per kind, and the registry everything else derives from.

``TRANSPORTS`` is the only list of channel kinds. From it come the kinds a ``Channel`` may have
(``channel_kinds``, the model's and the API's choices), the config fields of the channel form
(``config_fields``) and the API's description of each kind's config (``config_help``).

**Adding a channel kind** touches three files and nothing else:

1. a module here (``alerts/transports/<kind>.py``) with a frozen ``ChannelConfig`` dataclass and a
   ``TRANSPORT`` object following ``alerts.transports.base.Transport`` (``kind``, ``label``,
   ``fields``, ``config_type``, ``parse_config``, ``send``; HTTP receivers post through
   ``alerts.transports.http``, which guards against private targets);
2. one line in ``TRANSPORTS`` below;
3. one test file, ``tests/alerts/test_transport_<kind>.py``, sending to a real local receiver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.transports import email, pagerduty, slack, webhook
from alerts.transports.base import (
    ChannelConfig,
    ConfigError,
    ConfigField,
    Notification,
    Sent,
    Transport,
    TransportError,
)

__all__ = [
    "TRANSPORTS",
    "ChannelConfig",
    "ConfigError",
    "ConfigField",
    "Notification",
    "Sent",
    "Transport",
    "TransportError",
    "channel_kinds",
    "config_fields",
    "config_help",
    "config_of",
    "transport_for",
    "validate_config",
]

TRANSPORTS: dict[str, Transport[Any]] = {
    t.kind: t
    for t in (
        webhook.TRANSPORT,
        slack.TRANSPORT,
        email.TRANSPORT,
        pagerduty.TRANSPORT,
    )
}


def transport_for(kind: str) -> Transport[Any]:
    """The transport of a channel kind; ``ConfigError`` (on ``kind``) for an unknown one."""
    try:
        return TRANSPORTS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown channel kind {kind!r}; use one of {', '.join(sorted(TRANSPORTS))}", field="kind"
        ) from None


def channel_kinds() -> list[tuple[str, str]]:
    """(kind, label) of every transport, in registry order: ``Channel.kind``'s choices."""
    return [(kind, t.label) for kind, t in TRANSPORTS.items()]


def validate_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config to store for a channel of ``kind``, from what people gave (API JSON or form fields).

    Raises ``ConfigError`` naming the field and the reason.
    """
    if not isinstance(config, Mapping):
        raise ConfigError("config must be a JSON object")
    return transport_for(kind).parse_config(config).to_json()


def config_of(kind: str, stored: Mapping[str, Any]) -> ChannelConfig:
    """A stored channel config as its transport's typed config (stored configs were validated)."""
    return transport_for(kind).config_type.from_json(stored)


def config_fields() -> dict[str, list[tuple[str, ConfigField]]]:
    """Every config field name once, in registry order, with (kind, field) of each kind that uses it
    (``url``: webhook's and slack's, each with its own help)."""
    fields: dict[str, list[tuple[str, ConfigField]]] = {}
    for kind, transport in TRANSPORTS.items():
        for field in transport.fields:
            fields.setdefault(field.name, []).append((kind, field))
    return fields


def config_help() -> str:
    """Each kind's config shape, for the API: ``webhook: {url}; ...; email: {to: [...]}; ...``."""

    def shape(transport: Transport[Any]) -> str:
        return "{" + ", ".join(f"{f.name}: [...]" if f.many else f.name for f in transport.fields) + "}"

    return "; ".join(f"{kind}: {shape(t)}" for kind, t in TRANSPORTS.items())
