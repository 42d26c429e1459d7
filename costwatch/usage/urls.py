from django.urls import path

from costwatch.usage.api import (
    CostsView,
    RepriceView,
    RequestView,
    SummaryView,
    UserView,
)
from costwatch.usage.dimensions_api import CompareView, DimensionsView, DimensionView

urlpatterns = [
    path("reprice", RepriceView.as_view(), name="api-reprice"),
    path("costs", CostsView.as_view(), name="api-costs"),
    path("dimensions", DimensionsView.as_view(), name="api-dimensions"),
    path("dimensions/<str:name>", DimensionView.as_view(), name="api-dimension"),
    path("compare", CompareView.as_view(), name="api-compare"),
    path("summary", SummaryView.as_view(), name="api-summary"),
    path("users/<path:user_id>", UserView.as_view(), name="api-user"),
    path("requests/<str:trace_id>", RequestView.as_view(), name="api-request"),
]
