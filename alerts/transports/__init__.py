"""Channel transports: one module per kind, each with ``validate_config`` and ``send``.

Adding a kind means one module here, one line in TRANSPORTS and one test file.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any


class TransportError(Exception):
    """A failed send. ``permanent`` failures (e.g. HTTP 4xx) are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


class ConfigError(ValueError):
    """A channel config a transport cannot use; the message says which field and why."""


@dataclass(frozen=True)
class Sent:
    status_code: int | None = None
    detail: str = ""


def transport_for(kind: str) -> ModuleType:
    try:
        return TRANSPORTS[kind]
    except KeyError:
        raise ConfigError(f"unknown channel kind {kind!r}; use one of {', '.join(sorted(TRANSPORTS))}") from None


def validate_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ConfigError("config must be a JSON object")
    return transport_for(kind).validate_config(config)


from alerts.transports import email, pagerduty, slack, webhook  # noqa: E402 - the registry needs the error types above

TRANSPORTS: dict[str, ModuleType] = {
    "webhook": webhook,
    "slack": slack,
    "email": email,
    "pagerduty": pagerduty,
}
