"""Response headers every page and API answer carries: the Content-Security-Policy.

No inline script, no eval, no inline style, nothing loaded from another origin: pages load
their own vendored scripts and stylesheet from /static/, and chart data travels in
``<script type="application/json">`` blocks (data, not code). Security headers of the TLS-proxy
setting (Secure cookies, HSTS) come from Django's own settings (``COSTWATCH_TLS_PROXY``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
