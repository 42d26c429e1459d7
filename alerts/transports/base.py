"""What every channel transport is: the ``Transport`` protocol, its typed config, its errors, and the
``Notification`` it renders.

Nothing here imports a model or another part of ``alerts``: a transport is a function of a config, a
notification and the channel's secret, so each one is tested against a local server alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, Self, TypeVar

from costwatch.money import format_usd_exact

EVENT_TITLES = {"firing": "FIRING", "resolved": "RESOLVED", "reminder": "STILL FIRING", "test": "TEST"}


class TransportError(Exception):
    """A failed send. ``permanent`` failures (e.g. HTTP 4xx) are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


class ConfigError(ValueError):
    """A channel config a transport cannot use. The message names the field and says why; ``field``
    is that config field (one of the transport's ``fields``), None when the config as a whole is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Sent:
    status_code: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ConfigField:
    """One field of a channel config, as people fill it in (the channel form) and the API documents it.

    ``many``: a list (the form takes it comma-separated, the API as a JSON array).
    """

    name: str
    label: str
    help_text: str
    many: bool = False
    max_length: int = 2000


@dataclass(frozen=True)
class ChannelConfig:
    """Base of a transport's typed config: a frozen dataclass, stored as JSON in ``Channel.config``.

    Tuples are stored as JSON arrays and read back as tuples. Only what ``Transport.parse_config``
    returned is ever stored, so reading it back (``from_json``) does not validate again.
    """

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Self:
        return cls(
            **{f.name: tuple(v) if isinstance(v := stored[f.name], list) else v for f in dataclasses.fields(cls)}
        )


C = TypeVar("C", bound=ChannelConfig)


class Transport(Protocol[C]):
    """One channel kind: how its config is read and checked, and how a notification is sent.

    ``kind`` is stored in ``Channel.kind``; ``label`` names it in choices; ``fields`` are its config
    fields in form order; ``config_type`` reads a stored config back (the channel kinds, the form and
    the API help all come from the registry in ``alerts.transports``).
    """

    @property
    def kind(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def fields(self) -> tuple[ConfigField, ...]: ...

    @property
    def config_type(self) -> type[C]: ...

    def parse_config(self, raw: Mapping[str, Any]) -> C:
        """The typed config of what people gave (API JSON or form fields). Raises ``ConfigError``."""
        ...

    def send(self, config: C, notification: Notification, *, secret: str, delivery_id: int | None) -> Sent:
        """Send once. Raises ``TransportError`` (``permanent`` when retrying cannot help).

        ``secret``: the channel's signing secret; ``delivery_id``: the delivery row (None outside one).
        """
        ...


@dataclass(frozen=True)
class Notification:
    """A read-only view of a stored payload (built by ``alerts.notifications``), as channels render it."""

    payload: Mapping[str, Any]

    @property
    def event(self) -> str:
        return str(self.payload["event"])

    @property
    def severity(self) -> str:
        return str(self.payload.get("severity") or "warning")

    @property
    def link(self) -> str:
        return str(self.payload.get("link") or "")

    @property
    def dedup_key(self) -> str:
        return str(self.payload.get("dedup_key") or "")

    @property
    def group_label(self) -> str:
        scope = self.payload.get("scope") or {}
        dimension = scope.get("dimension", "project")
        if dimension == "project":
            return "project " + str(self.payload.get("project", ""))
        return f"{dimension} {self.payload.get('group')!s}"

    def title(self) -> str:
        rule = self.payload.get("rule") or {}
        return f"[Costwatch] {EVENT_TITLES.get(self.event, self.event.upper())}: {rule.get('name', '')} ({self.group_label})"

    def summary(self) -> str:
        return str(self.payload.get("summary") or self.title())

    def facts(self) -> list[tuple[str, str]]:
        """Label/value pairs for readable messages (Slack fields, email body)."""
        p = self.payload
        rule = p.get("rule") or {}
        period = p.get("period") or {}
        facts = [
            ("Rule", f"{rule.get('name', '')} ({rule.get('kind', '')})"),
            ("Scope", self.group_label),
            ("Level", f"{p.get('level', '')} ({self.severity})"),
            ("Value", format_usd_exact(Decimal(p["value"])) if p.get("value") is not None else "-"),
            ("Threshold", format_usd_exact(Decimal(p["threshold"])) if p.get("threshold") is not None else "-"),
            ("Period", f"{period.get('kind', '')} {period.get('key', '')}".strip()),
        ]
        return facts
