"""Showing attacker-controlled text (user ids, models, routes from spans) safely in each markup.

Span attributes are written by whoever holds an ingest key, and end up in Slack messages,
PagerDuty incidents, email subjects, CSV files and pages. Each output gets its own escaping:

- ``visible_controls``: control and bidirectional-formatting characters (a right-to-left
  override turns "evil" into "live" on screen) become visible ``<U+202E>`` marks.
- ``slack_mrkdwn``: Slack's mrkdwn control characters ``& < >`` escaped as Slack documents
  (``<!channel>`` and ``<url|text>`` links become inert), plus visible controls.
- ``one_line``: plain text for one-line fields (PagerDuty summary, email subject): visible controls,
  so a newline cannot forge a second line or header.
- ``csv_cell``: a spreadsheet cell that cannot start a formula or a new row.
"""

from __future__ import annotations

import re
from decimal import Decimal

# C0 and C1 controls, and Unicode's bidirectional formatting characters (LRM, RLM, ALM, the
# embeddings/overrides U+202A-202E and the isolates U+2066-2069), plus line/paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def visible_controls(text: str) -> str:
    """``text`` with every control or bidi formatting character shown as ``<U+XXXX>``."""
    return _CONTROLS.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def has_controls(text: str) -> bool:
    return bool(_CONTROLS.search(text))


def slack_mrkdwn(text: str) -> str:
    """Escape for Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return visible_controls(escaped)


def one_line(text: str) -> str:
    return visible_controls(text)


def csv_cell(value: object) -> str:
    """One CSV cell: numbers as they are; text with visible controls and no formula start.

    A text cell starting with ``= + - @`` (or tab, CR, LF, ``|``, ``%``) gets a leading ``'`` so
    spreadsheets show it as text (OWASP "CSV injection"); CR and LF become visible marks, so a
    key is always one cell on one line.
    """
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, Decimal)):
        return str(value)
    text = str(value)
    if _NUMBER.match(text):
        return text
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return visible_controls(text)
