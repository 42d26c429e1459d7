"""OpenAPI pieces shared by every API: key authentication, money strings, and the documented error bodies.

The authentication extension is loaded by ProjectsConfig.ready. Error bodies are DRF's: ``{"detail":
"..."}`` for 401, 403, 404, 409 and 503; for 400 an object naming each invalid field with its
messages (or ``detail`` for a request-wide problem).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "costwatch.projects.authentication.ApiKeyAuthentication"
    name = "ProjectReadKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular hook
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project read key (cw_read_...); also accepted as the x-costwatch-key header.",
        }


PROJECT_PARAM = OpenApiParameter(
    "project", OpenApiTypes.STR, description="project slug; needed by people in several projects"
)

_DECIMAL = {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}


@extend_schema_field({**_DECIMAL, "example": "0.0237", "description": "Exact decimal string, USD"})
class MoneyString(serializers.CharField):
    """An exact USD amount as a decimal string ("0.0237"); never a float."""


@extend_schema_field(
    {
        **_DECIMAL,
        "nullable": True,
        "example": "0.0237",
        "description": "Exact decimal string, USD; null when unknown (no priced call)",
    }
)
class NullableMoneyString(serializers.CharField):
    """An exact USD amount, or null when it is unknown (unpriced): never a silent 0."""

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401 - CharField's arguments
        super().__init__(allow_null=True, **kwargs)


@extend_schema_field({**_DECIMAL, "nullable": True, "description": "Exact decimal string; null when not set"})
class NullableDecimalString(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401 - CharField's arguments
        super().__init__(allow_null=True, **kwargs)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read")


_VALIDATION_ERROR = {
    "type": "object",
    "description": "Each invalid field with its messages (a string, a list, or per item for lists); "
    "`detail` for a problem with the request as a whole.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
    "example": {"amount_usd": ["A budget rule needs an amount above 0."]},
}

_DESCRIPTIONS = {
    400: "Invalid input (a parameter, the body, or a NUL character anywhere); nothing was changed.",
    401: "No credentials, or an invalid, revoked or wrong-scope key.",
    403: "The caller may not do this in this project (or it is another project's key, or read keys only read).",
    404: "No such object in this project.",
    409: "The object is not in a state that allows this action.",
    429: "Too many invalid keys from this address (COSTWATCH_BAD_KEYS_PER_ADDRESS); retry after Retry-After.",
    503: "A cost query ran past COSTWATCH_QUERY_TIMEOUT_MS; retry after the Retry-After seconds.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented error responses: 400, 401, 403 and 429 always, plus ``codes`` (404, 409, 503)."""
    out: dict[int, OpenApiResponse] = {}
    for code in sorted({400, 401, 403, 429, *codes}):
        body = _VALIDATION_ERROR if code == 400 else ErrorSerializer
        out[code] = OpenApiResponse(response=body, description=_DESCRIPTIONS[code])
    return out
