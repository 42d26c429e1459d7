"""POSTing to a receiver with a timeout; the status code decides whether a failure is retried."""
from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from alerts.transports import ConfigError, Sent, TransportError

USER_AGENT = "Costwatch-Alerts/1"
DETAIL_LIMIT = 500


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        return None  # a 3xx becomes an HTTPError: a notification is never re-sent somewhere else


_opener = urllib.request.build_opener(_NoRedirects)


def checked_url(config: Mapping[str, Any], field: str = "url") -> str:
    url = config.get(field)
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{field} is required")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{field} must be an http(s) URL, got {url!r}")
    return url


def is_retryable(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
    """POST ``body``; 2xx returns, anything else raises TransportError (permanent for 3xx/4xx)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"User-Agent": USER_AGENT, **headers})
    timeout = settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS
    try:
        with _opener.open(request, timeout=timeout) as response:
            text = response.read(DETAIL_LIMIT).decode("utf-8", "replace")
            return Sent(response.status, text)
    except urllib.error.HTTPError as exc:
        text = exc.read(DETAIL_LIMIT).decode("utf-8", "replace") if exc.fp else ""
        raise TransportError(f"HTTP {exc.code}: {text}".strip(), permanent=not is_retryable(exc.code),
                             status_code=exc.code) from None
    except (TimeoutError, socket.timeout):
        raise TransportError(f"timed out after {timeout}s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise TransportError(f"timed out after {timeout}s") from None
        raise TransportError(f"connection failed: {reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise TransportError(f"connection failed: {exc}") from None
