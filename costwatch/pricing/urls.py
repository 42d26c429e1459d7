from django.urls import path

from costwatch.pricing.api import AliasesView, EstimateView, PricesView

urlpatterns = [
    path("estimate", EstimateView.as_view(), name="api-estimate"),
    path("prices", PricesView.as_view(), name="api-prices"),
    path("aliases", AliasesView.as_view(), name="api-aliases"),
]
