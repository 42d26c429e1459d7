from django.urls import path

from costwatch.usage.api import CostsView, RequestView, SummaryView, UserView

urlpatterns = [
    path("costs", CostsView.as_view(), name="api-costs"),
    path("summary", SummaryView.as_view(), name="api-summary"),
    path("users/<path:user_id>", UserView.as_view(), name="api-user"),
    path("requests/<str:trace_id>", RequestView.as_view(), name="api-request"),
]
