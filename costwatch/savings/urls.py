from django.urls import path

from costwatch.savings.api import (
    AlternativesView,
    AlternativeView,
    DigestsView,
    DigestView,
    SavingsSettingsView,
    SavingsView,
)

urlpatterns = [
    path("savings", SavingsView.as_view(), name="api-savings"),
    path("savings/settings", SavingsSettingsView.as_view(), name="api-savings-settings"),
    path("savings/alternatives", AlternativesView.as_view(), name="api-savings-alternatives"),
    path("savings/alternatives/<int:alternative_id>", AlternativeView.as_view(), name="api-savings-alternative"),
    path("savings/digests", DigestsView.as_view(), name="api-savings-digests"),
    path("savings/digests/<int:digest_id>", DigestView.as_view(), name="api-savings-digest"),
]
