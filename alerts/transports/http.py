"""POSTing to a receiver with a timeout; the status code decides whether a failure is retried.

Outgoing requests are guarded against server-side request forgery: the host is resolved once,
every address it resolves to must be public (not loopback, private, link-local such as cloud
metadata at 169.254.169.254, shared, reserved or multicast), and the connection goes to that
vetted address (no second lookup a DNS rebinding could change). Redirects are never followed.
``COSTWATCH_ALLOW_PRIVATE_TARGETS=true`` lifts the address check (receivers on a private
network; the tests' local servers). What is stored of an answer is its status and reason
phrase, never its body.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from alerts.transports.base import ConfigError, Sent, TransportError

USER_AGENT = "Costwatch-Alerts/1"
REASON_LIMIT = 100


class TargetRefused(TransportError):
    """The URL's host is, or resolves to, an address Costwatch must not call."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def address_problem(address: str) -> str | None:
    """Why Costwatch must not connect to this IP address, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return f"{ip} is a {label} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def vetted_addresses(host: str, port: int) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` results for host:port, all public unless private targets are allowed.

    Raises ``TargetRefused`` naming the offending address, ``TransportError`` when the name
    does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransportError(f"cannot resolve {host}: {exc.strerror}") from None
    if not settings.COSTWATCH_ALLOW_PRIVATE_TARGETS:
        for info in infos:
            problem = address_problem(str(info[4][0]))  # an IPv4/IPv6 address text (typeshed: str | int)
            if problem:
                raise TargetRefused(
                    f"refused to connect to {host}: {problem} (COSTWATCH_ALLOW_PRIVATE_TARGETS=true allows it)"
                )
    return infos


def _connect_vetted(host: str, port: int, timeout: float | None) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _name, address in vetted_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"no address for {host}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _connect_vetted(self.host, self.port, self.timeout)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = _connect_vetted(self.host, self.port, self.timeout)
        # _context: set by HTTPSConnection.__init__, a private attribute typeshed does not declare.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=ssl.create_default_context())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        return None  # a 3xx becomes an HTTPError: a notification is never re-sent somewhere else


_opener = urllib.request.build_opener(_NoRedirects, _GuardedHTTPHandler, _GuardedHTTPSHandler)


def checked_url(config: Mapping[str, Any], field: str = "url") -> str:
    url = config.get(field)
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{field} is required", field=field)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{field} must be an http(s) URL, got {url!r}", field=field)
    if not settings.COSTWATCH_ALLOW_PRIVATE_TARGETS:
        # Refuse the obvious at once; names are checked again, resolved, on every send.
        if parts.hostname.lower() in ("localhost", "localhost.localdomain") or parts.hostname.lower().endswith(
            ".localhost"
        ):
            raise ConfigError(f"{field} must not point at this machine ({parts.hostname})", field=field)
        try:
            problem = address_problem(parts.hostname)
        except ValueError:
            problem = None  # a name, not an address literal
        if problem:
            raise ConfigError(
                f"{field} must point at a public address: {problem} (COSTWATCH_ALLOW_PRIVATE_TARGETS=true allows it)",
                field=field,
            )
    return url


def is_retryable(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
    """POST ``body``; 2xx returns, anything else raises TransportError (permanent for 3xx/4xx)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers})
    timeout = settings.COSTWATCH_DELIVERY_TIMEOUT_SECONDS
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Sent(response.status, f"HTTP {response.status} {_reason(response.reason)}".strip())
    except urllib.error.HTTPError as exc:
        # Only the status and its reason phrase are kept: the body of whatever answered is
        # never stored or shown (it could be an internal service's data).
        raise TransportError(
            f"HTTP {exc.code} {_reason(exc.reason)}".strip(), permanent=not is_retryable(exc.code), status_code=exc.code
        ) from None
    except TransportError:
        raise
    except TimeoutError:
        raise TransportError(f"timed out after {timeout}s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TransportError):
            raise reason from None
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise TransportError(f"timed out after {timeout}s") from None
        raise TransportError(f"connection failed: {_reason(reason)}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise TransportError(f"connection failed: {_reason(exc)}") from None


def _reason(reason: object) -> str:
    text = " ".join(str(reason or "").split())
    return text[:REASON_LIMIT]
