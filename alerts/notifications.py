"""The notification every channel renders: built once per transition, stored on the delivery row."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from costwatch.money import format_usd_exact

EVENT_TITLES = {"firing": "FIRING", "resolved": "RESOLVED", "reminder": "STILL FIRING", "test": "TEST"}


@dataclass(frozen=True)
class Notification:
    """A read-only view of a stored payload (see ``alerts.services.notification_payload``)."""

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

    def text(self) -> str:
        lines = [self.summary(), ""]
        lines += [f"{label}: {value}" for label, value in self.facts()]
        if self.link:
            lines += ["", f"Open the incident: {self.link}"]
        return "\n".join(lines)
