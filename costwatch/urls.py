from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from costwatch.ops.views import healthz, readyz
from costwatch.projects.api import api_not_found

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("ingest.urls")),
    path("api/v1/", include("costwatch.usage.urls")),
    path("api/v1/", include("alerts.urls")),
    path("api/v1/", include("costwatch.pricing.urls")),
    path("api/v1/", include("costwatch.billing.urls")),
    path("api/v1/", include("costwatch.savings.urls")),
    # Any other /api/ URL (e.g. /api/v1/alerts/rules/abc) answers a JSON 404, never the web app's HTML page.
    re_path(r"^api/v1/", api_not_found),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("frontend.urls")),  # the web app; last, after the API, ingest and admin
]
