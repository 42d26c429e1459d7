"""Response shapes of the alerts API (/api/v1/alerts/..., /api/v1/budgets/status).

Views render plain dicts or model rows through these serializers, so the schema is what the API
returns. Amounts are exact decimal strings (USD); times are ISO 8601 in UTC.
"""

from __future__ import annotations

from rest_framework import serializers

from alerts.models import DeliveryEvent, DeliveryStatus, IncidentState, RuleKind, Scope
from alerts.transports import channel_kinds, config_help
from costwatch.projects.schema import (
    MoneyString,
    NullableDecimalString,
    NullableMoneyString,
)

SCOPE_OUT_HELP = (
    "project, user, feature, endpoint, model, or the name of one of the project's custom dimensions (e.g. tenant)"
)


class ChannelOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=channel_kinds())
    name = serializers.CharField()
    config = serializers.DictField(required=False, help_text="Only for people who manage alerts: " + config_help())
    enabled = serializers.BooleanField()
    secret = serializers.CharField(
        required=False, help_text="Only for people who manage alerts: signs webhook bodies (X-Costwatch-Signature)"
    )
    created_at = serializers.DateTimeField()


class ChannelListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = ChannelOutSerializer(many=True)


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    permanent = serializers.BooleanField(help_text="A failure that retrying cannot fix (e.g. a 4xx)")
    status_code = serializers.IntegerField(allow_null=True, help_text="HTTP status of the receiver, if any")
    duration_ms = serializers.IntegerField()
    detail = serializers.CharField(allow_blank=True)


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.IntegerField()
    incident = serializers.IntegerField(allow_null=True, help_text="null for a test notification")
    event = serializers.ChoiceField(choices=DeliveryEvent.choices)
    sequence = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_error = serializers.CharField(allow_blank=True, help_text="The last failed attempt's error; empty if none")
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    attempt_log = AttemptSerializer(many=True)


class DeliveryListSerializer(serializers.Serializer):
    channel = serializers.IntegerField()
    results = DeliverySerializer(many=True)


class RuleOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    scope = serializers.CharField(help_text=SCOPE_OUT_HELP)
    scope_value = serializers.CharField(allow_null=True, help_text="null = each user/feature/tenant/... separately")
    period = serializers.CharField(help_text="day, week or month (budget rules)")
    amount_usd = NullableMoneyString(help_text="Budget rules: the amount; null for anomaly rules")
    warn_percents = serializers.ListField(child=serializers.IntegerField())
    forecast = serializers.BooleanField()
    anomaly_factor = NullableDecimalString()
    anomaly_days = serializers.IntegerField()
    min_baseline_usd = NullableMoneyString()
    min_spend_usd = NullableMoneyString()
    same_weekday = serializers.BooleanField()
    drift_percent = NullableDecimalString(
        help_text="Drift rules: fire when |billed - estimated| / billed is at least this"
    )
    drift_usd = NullableMoneyString(help_text="Drift rules: fire when |billed - estimated| is at least this")
    drift_days = serializers.IntegerField(help_text="Drift rules: complete UTC days checked")
    drift_provider = serializers.CharField(allow_null=True, help_text="Drift rules: null = each provider")
    request_metric = serializers.CharField(
        allow_null=True,
        help_text=("Per-request budget rules: the metric limited per request (cost, input_tokens, ...)"),
    )
    request_limit = NullableDecimalString(help_text="Per-request budget rules: the limit per request")
    repeat_interval_minutes = serializers.IntegerField()
    enabled = serializers.BooleanField()
    channels = serializers.ListField(child=serializers.IntegerField())
    notifies_nobody = serializers.BooleanField(
        help_text="True when no enabled channel is attached: the rule fires, but nobody is told"
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "Problems worth knowing, for people: no (enabled) channel; for a rule scoped by a custom dimension, "
            "days it reads on which the dimension grouped values past its daily limit under (other), which the "
            "rule does not check value by value"
        ),
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RuleListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = RuleOutSerializer(many=True)


class RuleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    scope = serializers.CharField(help_text=SCOPE_OUT_HELP)


class IncidentEventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    value_usd = NullableMoneyString()
    note = serializers.CharField(allow_blank=True)


class IncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rule = RuleRefSerializer()
    group = serializers.CharField(allow_null=True, help_text="The user/feature/... it is about; null project-wide")
    period_key = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    level = serializers.CharField(help_text="breach, warn:<percent>, forecast or anomaly")
    severity = serializers.CharField(help_text="critical or warning")
    state = serializers.ChoiceField(choices=IncidentState.choices)
    episode = serializers.IntegerField()
    value_usd = MoneyString()
    threshold_usd = MoneyString()
    opened_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    silenced = serializers.BooleanField()
    silenced_until = serializers.DateTimeField(allow_null=True)
    silence_reason = serializers.CharField(allow_blank=True)
    last_notified_at = serializers.DateTimeField(allow_null=True)
    reminders_sent = serializers.IntegerField()
    failed_deliveries = serializers.IntegerField(help_text="Notifications that gave up (status failed)")
    last_delivery_error = serializers.CharField(allow_null=True, help_text="The newest failed delivery's last error")
    link = serializers.URLField()


class IncidentDetailSerializer(IncidentSerializer):
    history = IncidentEventSerializer(many=True)
    deliveries = DeliverySerializer(many=True)


class IncidentListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = IncidentSerializer(many=True)


class BudgetRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BudgetSerializer(serializers.Serializer):
    rule = BudgetRuleSerializer()
    scope = serializers.ChoiceField(choices=Scope.choices)
    group = serializers.CharField(allow_null=True)
    period = serializers.CharField()
    period_key = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    spend_usd = NullableMoneyString()
    limit_usd = MoneyString()
    remaining_usd = NullableMoneyString()
    exceeded = serializers.BooleanField()


class BudgetStatusSerializer(serializers.Serializer):
    project = serializers.CharField()
    at = serializers.DateTimeField()
    user = serializers.CharField(required=False)
    feature = serializers.CharField(required=False)
    endpoint = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    dimensions = serializers.DictField(
        child=serializers.CharField(), help_text=("The custom dimension values asked about (name -> value)")
    )
    exceeded = serializers.BooleanField(help_text="True when any applicable budget is exceeded")
    budgets = BudgetSerializer(many=True)
