"""Turns a cancelled cost query into a clear 503 for pages and the API alike."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape

from costwatch.usage.queries import QueryTimeout


class QueryTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, QueryTimeout):
            return None
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": str(exception)}, status=503)
        else:
            response = HttpResponse(
                f"<!doctype html><title>Too slow</title><p>{escape(str(exception))}</p>", status=503
            )
        response["Retry-After"] = "30"
        return response
