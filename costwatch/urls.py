from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from costwatch.ops.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("ingest.urls")),
    path("api/v1/", include("costwatch.usage.urls")),
    path("api/v1/", include("alerts.urls")),
    path("api/v1/", include("costwatch.pricing.urls")),
    path("api/v1/", include("costwatch.billing.urls")),
    path("api/v1/", include("costwatch.savings.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("frontend.urls")),  # the web app; last, after the API, ingest and admin
]
