from django.urls import path

from alerts.api import (
    BudgetStatusView,
    ChannelDeliveriesView,
    ChannelDetailView,
    ChannelListView,
    ChannelTestView,
    IncidentAckView,
    IncidentDetailView,
    IncidentListView,
    IncidentSilenceView,
    IncidentUnsilenceView,
    RuleDetailView,
    RuleListView,
)

urlpatterns = [
    path("alerts/rules", RuleListView.as_view(), name="api-alert-rules"),
    path("alerts/rules/<int:pk>", RuleDetailView.as_view(), name="api-alert-rule"),
    path("alerts/channels", ChannelListView.as_view(), name="api-alert-channels"),
    path("alerts/channels/<int:pk>", ChannelDetailView.as_view(), name="api-alert-channel"),
    path("alerts/channels/<int:pk>/test", ChannelTestView.as_view(), name="api-alert-channel-test"),
    path("alerts/channels/<int:pk>/deliveries", ChannelDeliveriesView.as_view(), name="api-alert-channel-deliveries"),
    path("alerts/incidents", IncidentListView.as_view(), name="api-incidents"),
    path("alerts/incidents/<int:pk>", IncidentDetailView.as_view(), name="api-incident"),
    path("alerts/incidents/<int:pk>/ack", IncidentAckView.as_view(), name="api-incident-ack"),
    path("alerts/incidents/<int:pk>/silence", IncidentSilenceView.as_view(), name="api-incident-silence"),
    path("alerts/incidents/<int:pk>/unsilence", IncidentUnsilenceView.as_view(), name="api-incident-unsilence"),
    path("budgets/status", BudgetStatusView.as_view(), name="api-budget-status"),
]
