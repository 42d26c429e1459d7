"""OpenAPI description of API-key authentication (loaded by ProjectsConfig.ready)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "costwatch.projects.authentication.ApiKeyAuthentication"
    name = "ProjectReadKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular hook
        return {"type": "http", "scheme": "bearer", "description": "A project read key (cw_read_...); "
                "also accepted as the x-costwatch-key header."}
