from django.urls import path

from costwatch.billing.api import ImportView, ReconciliationView, SourceDetailView, SourceListView, SourcePullView

urlpatterns = [
    path("reconciliation", ReconciliationView.as_view(), name="api-reconciliation"),
    path("billing/sources", SourceListView.as_view(), name="api-billing-sources"),
    path("billing/sources/<int:pk>", SourceDetailView.as_view(), name="api-billing-source"),
    path("billing/sources/<int:pk>/pull", SourcePullView.as_view(), name="api-billing-pull"),
    path("billing/imports", ImportView.as_view(), name="api-billing-imports"),
]
