from django.urls import path

from alerts.api import (
    BudgetStatusView,
    ChannelDeliveriesView,
    ChannelDetailView,
    ChannelListView,
    ChannelTestView,
    IncidentActionView,
    IncidentDetailView,
    IncidentListView,
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
    path("alerts/incidents/<int:pk>/ack", IncidentActionView.as_view(incident_action="ack"), name="api-incident-ack"),
    path("alerts/incidents/<int:pk>/silence", IncidentActionView.as_view(incident_action="silence"),
         name="api-incident-silence"),
    path("alerts/incidents/<int:pk>/unsilence", IncidentActionView.as_view(incident_action="unsilence"),
         name="api-incident-unsilence"),
    path("budgets/status", BudgetStatusView.as_view(), name="api-budget-status"),
]
