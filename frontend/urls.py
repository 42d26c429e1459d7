from django.contrib.auth import views as auth_views
from django.urls import path

from frontend.views import alerts, billing, costs, home, manage, savings, signin

app_name = "frontend"

urlpatterns = [
    path("login/", signin.SignInView.as_view(), name="login"),
    # The one-time link a new account gets (Settings → Members, `manage.py addmember --create`).
    path("reset/<uidb64>/<token>/", manage.SetPasswordView.as_view(), name="set-password"),
    path("logout/", auth_views.LogoutView.as_view(next_page="frontend:login"), name="logout"),
    path("", home.home, name="home"),
    path("switch/", home.switch, name="switch"),
    # The links notifications carry (alerts.notifications.incident_link): no project in them.
    path("alerts/", alerts.alerts_link, name="alerts-link"),
    path("alerts/incidents/<int:incident_id>/", alerts.incident_link, name="incident-link"),
    path("p/<slug:slug>/", costs.overview, name="overview"),
    path("p/<slug:slug>/requests/<str:trace_id>/", costs.request_detail, name="request"),
    path("p/<slug:slug>/pricing/", manage.pricing, name="pricing"),
    path("p/<slug:slug>/pricing/overrides/", manage.add_override, name="add-override"),
    path("p/<slug:slug>/pricing/history/", manage.price_history, name="price-history"),
    path("p/<slug:slug>/reconciliation/", billing.reconciliation, name="reconciliation"),
    path("p/<slug:slug>/reconciliation/sources/", billing.add_source, name="billing-source-new"),
    path("p/<slug:slug>/reconciliation/sources/<int:source_id>/pull/", billing.pull_source, name="billing-pull"),
    path("p/<slug:slug>/reconciliation/sources/<int:source_id>/revoke/", billing.revoke_source, name="billing-revoke"),
    path("p/<slug:slug>/reconciliation/imports/", billing.import_bill, name="billing-import"),
    path("p/<slug:slug>/savings/", savings.savings, name="savings"),
    path("p/<slug:slug>/savings/alternatives/", savings.add_alternative, name="savings-alternative-new"),
    path(
        "p/<slug:slug>/savings/alternatives/<int:alternative_id>/delete/",
        savings.delete_alternative,
        name="savings-alternative-delete",
    ),
    path("p/<slug:slug>/settings/keys/", manage.keys, name="keys"),
    path("p/<slug:slug>/settings/keys/<int:key_id>/revoke/", manage.revoke, name="revoke-key"),
    path("p/<slug:slug>/settings/members/", manage.members, name="members"),
    path(
        "p/<slug:slug>/settings/members/<int:membership_id>/password-link/",
        manage.new_password_link,
        name="member-password-link",
    ),
    path("p/<slug:slug>/settings/members/<int:membership_id>/remove/", manage.remove_member_view, name="remove-member"),
    path("p/<slug:slug>/settings/dimensions/", manage.dimensions, name="dimensions"),
    path("p/<slug:slug>/settings/dimensions/<str:name>/", manage.dimension_edit, name="dimension-edit"),
    path("p/<slug:slug>/settings/dimensions/<str:name>/delete/", manage.dimension_delete, name="dimension-delete"),
    # A custom dimension's table, group pages and splits: the same views as the built-in groups'.
    path("p/<slug:slug>/dimensions/", costs.dimensions_index, name="dimensions-index"),
    path("p/<slug:slug>/dimensions/<str:name>/", costs.dimension_list, name="dimension"),
    path("p/<slug:slug>/dimensions/<str:name>/detail/", costs.dimension_detail, name="dimension-group"),
    path(
        "p/<slug:slug>/dimensions/<str:name>/detail/breakdown/", costs.dimension_breakdown, name="dimension-breakdown"
    ),
    path("p/<slug:slug>/compare/", costs.compare_values, name="compare"),
    path("p/<slug:slug>/alerts/", alerts.incidents, name="alerts"),
    path("p/<slug:slug>/alerts/history/", alerts.history, name="alert-history"),
    path("p/<slug:slug>/alerts/incidents/<int:incident_id>/", alerts.incident_detail, name="incident"),
    path("p/<slug:slug>/alerts/incidents/<int:incident_id>/acknowledge/", alerts.acknowledge, name="acknowledge"),
    path("p/<slug:slug>/alerts/incidents/<int:incident_id>/silence/", alerts.silence, name="silence"),
    path("p/<slug:slug>/alerts/incidents/<int:incident_id>/unsilence/", alerts.unsilence, name="unsilence"),
    path("p/<slug:slug>/alerts/rules/", alerts.rules, name="rules"),
    path("p/<slug:slug>/alerts/rules/new/", alerts.rule_edit, name="rule-new"),
    path("p/<slug:slug>/alerts/rules/<int:rule_id>/", alerts.rule_edit, name="rule-edit"),
    path("p/<slug:slug>/alerts/rules/<int:rule_id>/enabled/", alerts.rule_enabled, name="rule-enabled"),
    path("p/<slug:slug>/alerts/channels/", alerts.channels, name="channels"),
    path("p/<slug:slug>/alerts/channels/new/", alerts.channel_edit, name="channel-new"),
    path("p/<slug:slug>/alerts/channels/<int:channel_id>/", alerts.channel_edit, name="channel-edit"),
    path("p/<slug:slug>/alerts/channels/<int:channel_id>/test/", alerts.channel_test, name="channel-test"),
    # Last: the four group tables share one view (users, features, endpoints, models).
    path("p/<slug:slug>/<str:dimension>/", costs.group_list, name="groups"),
    path("p/<slug:slug>/<str:dimension>/detail/", costs.group_detail, name="group"),
    path("p/<slug:slug>/<str:dimension>/detail/breakdown/", costs.group_breakdown, name="group-breakdown"),
]
