"""Billing sources (a provider admin key per project) and the provider's billed costs per UTC day."""

from __future__ import annotations

from django.db import models

from costwatch.model_fields import DecimalDigits
from costwatch.projects.models import Project

# Providers send amounts with up to 16 decimals (OpenAI's JSON numbers; Anthropic's cents / 100):
# stored as given, never rounded.
BILL_PLACES = 20
BILL_MONEY: DecimalDigits = {"max_digits": 40, "decimal_places": BILL_PLACES}


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI (organization Costs API)"
    ANTHROPIC = "anthropic", "Anthropic (Admin API cost report)"


class BillOrigin(models.TextChoices):
    API = "api", "Provider cost API"
    CSV = "csv", "Imported cost CSV"


class BillingSource(models.Model):
    """A provider's cost API read with an admin key. The key is stored encrypted (Fernet), never shown again.

    ``scope_ids`` narrows the bill to the provider's projects (OpenAI ``project_ids``) or workspaces
    (Anthropic ``workspace_ids``); empty = the whole organization.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    name = models.CharField(max_length=200)
    encrypted_key = models.TextField(blank=True, help_text="Fernet token; emptied when the source is revoked.")
    key_hint = models.CharField(max_length=16, blank=True, help_text="Last 4 characters, to recognise the key.")
    scope_ids = models.JSONField(default=list, blank=True)
    base_url = models.CharField(max_length=500, blank=True, help_text="Blank = the provider's default setting.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    next_pull_at = models.DateTimeField(null=True, blank=True, help_text="When beat pulls it next.")
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_pull_ok = models.BooleanField(null=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "id"]
        indexes = [models.Index(fields=["revoked_at", "next_pull_at"])]

    def __str__(self) -> str:
        return f"{self.provider}: {self.name}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and bool(self.encrypted_key)


class BilledDay(models.Model):
    """A provider's bill of one UTC day is known (its lines may sum to $0).

    Replaced as a whole (with its lines) by every pull or import that covers the day.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    day = models.DateField(help_text="UTC day of the provider's daily bucket.")
    origin = models.CharField(max_length=8, choices=BillOrigin.choices)
    source = models.ForeignKey(BillingSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    imported_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "provider", "day"], name="billedday_identity")]


class BilledCost(models.Model):
    """One line of a provider's bill for one UTC day, as the provider reported it (exact decimal).

    ``amount`` is in ``currency`` (upper-case ISO 4217, as given): never converted.
    """

    billed_day = models.ForeignKey(BilledDay, on_delete=models.CASCADE, related_name="lines")
    line_item = models.CharField(max_length=300, blank=True, help_text="OpenAI line_item / Anthropic description.")
    model = models.CharField(max_length=200, blank=True, help_text="Model named by the bill line, if any.")
    scope_id = models.CharField(max_length=200, blank=True, help_text="Provider project_id / workspace_id.")
    amount = models.DecimalField(**BILL_MONEY)
    currency = models.CharField(max_length=8)


class BillImport(models.Model):
    """History: one row per pull or file import, with what it replaced."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    origin = models.CharField(max_length=8, choices=BillOrigin.choices)
    source = models.ForeignKey(BillingSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filename = models.CharField(max_length=300, blank=True)
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    days = models.PositiveIntegerField(default=0)
    lines = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
