from django.urls import path

from costwatch.usage.api import (
    CostsView,
    RepriceView,
    RequestView,
    SummaryView,
    UserView,
)

urlpatterns = [
    path("reprice", RepriceView.as_view(), name="api-reprice"),
    path("costs", CostsView.as_view(), name="api-costs"),
    path("summary", SummaryView.as_view(), name="api-summary"),
    path("users/<path:user_id>", UserView.as_view(), name="api-user"),
    path("requests/<str:trace_id>", RequestView.as_view(), name="api-request"),
]
