"""Alert rules, the channels they notify, incidents with their history, and delivery rows."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import MD5

from alerts.transports import channel_kinds
from costwatch.model_fields import MONEY
from costwatch.projects.models import Project


def new_channel_secret() -> str:
    return secrets.token_urlsafe(32)


class Channel(models.Model):
    """Where notifications go. ``kind`` is one of the transports' (``alerts.transports.TRANSPORTS``);
    ``config`` is what its transport's ``parse_config`` returned, stored as JSON."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=channel_kinds)
    name = models.CharField(max_length=200)
    config = models.JSONField(default=dict)
    secret = models.CharField(max_length=128, default=new_channel_secret, help_text="Signs webhook bodies.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.name}"


class RuleKind(models.TextChoices):
    BUDGET = "budget", "Budget"
    ANOMALY = "anomaly", "Anomaly"
    DRIFT = "drift", "Bill drift"
    REQUEST_BUDGET = "request_budget", "Per-request budget"


class RequestMetric(models.TextChoices):
    """What a per-request budget limits, summed over the request's counted calls."""

    INPUT_TOKENS = "input_tokens", "Prompt tokens (input + cache reads + cache writes)"
    OUTPUT_TOKENS = "output_tokens", "Output tokens"
    TOTAL_TOKENS = "total_tokens", "Prompt + output tokens"
    COST = "cost", "Cost (USD, priced calls)"


class Scope(models.TextChoices):
    PROJECT = "project", "The whole project"
    USER = "user", "Each user"
    FEATURE = "feature", "Each feature"
    ENDPOINT = "endpoint", "Each endpoint"
    MODEL = "model", "Each model"


class BudgetPeriod(models.TextChoices):
    DAY = "day", "Calendar day"
    WEEK = "week", "Calendar week (Monday first)"
    MONTH = "month", "Calendar month"


class Rule(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    # No choices: a custom dimension is stored as its rollup dimension, dim:<id> (alerts.scopes).
    scope = models.CharField(
        max_length=16,
        default=Scope.PROJECT,
        help_text=("project, user, feature, endpoint, model, or dim:<id> of a custom dimension (alerts.scopes)."),
    )
    scope_value = models.TextField(blank=True, help_text="Only this user/feature/tenant/...; blank = each.")
    # Budget
    period = models.CharField(max_length=8, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTH)
    amount = models.DecimalField(null=True, blank=True, **MONEY)
    warn_percents = models.JSONField(default=list, blank=True, help_text="Early warnings, e.g. [80, 90].")
    forecast = models.BooleanField(default=False, help_text="Warn when the period-end forecast exceeds the amount.")
    # Anomaly
    anomaly_factor = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal(2))
    anomaly_days = models.PositiveSmallIntegerField(default=7)
    min_baseline = models.DecimalField(default=Decimal(1), **MONEY)
    min_spend = models.DecimalField(default=Decimal(5), **MONEY)
    same_weekday = models.BooleanField(default=False)
    # Bill drift (costwatch.billing): the provider's bill against Costwatch's estimate, per provider-day
    drift_percent = models.DecimalField(
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Fire when |billed - estimated| reaches this % of the bill.",
    )
    drift_usd = models.DecimalField(null=True, blank=True, help_text="... and/or this many dollars.", **MONEY)
    drift_days = models.PositiveSmallIntegerField(default=3, help_text="Complete UTC days watched after they end.")
    drift_provider = models.CharField(max_length=16, blank=True, help_text="Only this provider's bill; blank = each.")
    # Per-request budget (costwatch.usage RequestRollup): each request of a feature/endpoint, per local day
    request_metric = models.CharField(max_length=16, choices=RequestMetric.choices, blank=True)
    request_limit = models.DecimalField(null=True, blank=True, help_text="Tokens, or USD for cost.", **MONEY)
    # Notifications
    repeat_interval = models.DurationField(default=timedelta(hours=1))
    enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class IncidentState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    """One (rule, group, period, level). Reopened in place if it fires again in the same period."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="incidents")
    group_key = models.TextField(blank=True, help_text="Blank for project-wide rules.")
    period_key = models.CharField(max_length=16)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    level = models.CharField(max_length=16, help_text="breach, warn:<percent>, forecast or anomaly.")
    severity = models.CharField(max_length=16, help_text="critical or warning.")
    state = models.CharField(max_length=16, choices=IncidentState.choices, default=IncidentState.FIRING)
    episode = models.PositiveIntegerField(default=1, help_text="How many times it started firing.")
    value = models.DecimalField(**MONEY)
    threshold = models.DecimalField(**MONEY)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    silenced_until = models.DateTimeField(null=True, blank=True)
    silence_reason = models.CharField(max_length=500, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="Per-request budgets: counts and worst requests.")
    reminders_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # md5: a group key (a user id) may be kilobytes long, past a btree entry's limit.
            models.UniqueConstraint(
                F("rule"), MD5("group_key"), F("period_key"), F("level"), name="one_incident_per_level"
            )
        ]
        indexes = [models.Index(fields=["project", "state", "opened_at"]), models.Index(fields=["rule", "state"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.group_key or '(project)'} {self.period_key} {self.level} {self.state}"


class IncidentEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    REOPENED = "reopened", "Fired again"
    SUPERSEDED = "superseded", "Superseded by a higher level"
    RESOLVED = "resolved", "Resolved"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SILENCED = "silenced", "Silenced"
    UNSILENCED = "unsilenced", "Silence lifted"
    REMINDED = "reminded", "Reminder sent"


class IncidentEvent(models.Model):
    """History: one row per change of an incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=IncidentEventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    value = models.DecimalField(null=True, blank=True, **MONEY)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]


class DeliveryEvent(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"
    REMINDER = "reminder", "Reminder"
    TEST = "test", "Test"
    DIGEST = "digest", "Weekly savings digest"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One notification to one channel, written before it is sent; the sweeper
    (``alerts.deliveries.send_due_deliveries``) claims it when due and logs every attempt."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16, choices=DeliveryEvent.choices)
    sequence = models.PositiveIntegerField(default=1, help_text="Episode for firing/resolved, number for reminders.")
    payload = models.JSONField(help_text="The notification, as built when the transition happened.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending it until then.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "channel", "event", "sequence"], name="one_delivery_per_transition"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    permanent = models.BooleanField(default=False, help_text="A failure that is not retried (e.g. HTTP 4xx).")
    status_code = models.IntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_attempt")]
