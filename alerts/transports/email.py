"""Email through Django's email backend (SMTP in production: EMAIL_* settings)."""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.utils.html import escape

from alerts.transports.base import (
    ChannelConfig,
    ConfigError,
    ConfigField,
    Notification,
    Sent,
    TransportError,
)
from costwatch.display import one_line, visible_controls

MAX_RECIPIENTS = 20


@dataclass(frozen=True)
class EmailConfig(ChannelConfig):
    to: tuple[str, ...]


def text_of(notification: Notification) -> str:
    """The plain-text body: one line per fact, controls inside any value shown (no forged lines)."""
    lines = [visible_controls(notification.summary()), ""]
    lines += [f"{label}: {visible_controls(value)}" for label, value in notification.facts()]
    if notification.link:
        lines += ["", f"Open the incident: {notification.link}"]
    return "\n".join(lines)


def html_of(notification: Notification) -> str:
    """The HTML part: every value escaped, attacker text isolated (``<bdi>``) with controls shown."""

    def text(value: str) -> str:
        return f"<bdi>{escape(visible_controls(value))}</bdi>"

    rows = "".join(
        f'<tr><th align="left">{escape(label)}</th><td>{text(value)}</td></tr>' for label, value in notification.facts()
    )
    link = (
        f'<p><a href="{escape(notification.link)}">Open the incident</a></p>'
        if notification.link.startswith(("https://", "http://"))
        else ""
    )
    return f"<p>{text(notification.summary())}</p><table>{rows}</table>{link}"


class EmailTransport:
    kind = "email"
    label = "Email"
    fields = (ConfigField("to", "Email recipients", "comma-separated addresses", many=True),)
    config_type = EmailConfig

    def parse_config(self, raw: Mapping[str, Any]) -> EmailConfig:
        """``to``: a list of addresses, or one string of comma-separated addresses (the form's)."""
        to = raw.get("to")
        if isinstance(to, str):
            to = [part.strip() for part in to.split(",") if part.strip()]
        if not isinstance(to, list) or not to or len(to) > MAX_RECIPIENTS:
            raise ConfigError(f"to must list 1 to {MAX_RECIPIENTS} email addresses", field="to")
        for address in to:
            try:
                validate_email(address)
            except (ValidationError, TypeError):
                raise ConfigError(f"to: {address!r} is not an email address", field="to") from None
        return EmailConfig(tuple(to))

    def send(self, config: EmailConfig, notification: Notification, *, secret: str, delivery_id: int | None) -> Sent:
        message = EmailMultiAlternatives(
            # A header: one line, controls shown (a newline in a user id would otherwise be refused).
            subject=one_line(notification.title()),
            body=text_of(notification),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(config.to),
            headers={"X-Costwatch-Event": notification.event, "X-Costwatch-Delivery": str(delivery_id or "")},
        )
        message.attach_alternative(html_of(notification), "text/html")
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError(f"recipients refused: {exc.recipients}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500, status_code=exc.smtp_code
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"SMTP failed: {exc}") from None
        return Sent(None, f"mailed {len(message.to)} recipient(s)")


TRANSPORT = EmailTransport()
