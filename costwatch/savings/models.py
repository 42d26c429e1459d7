"""Per-project savings settings: thresholds, approved alternatives and the weekly digest."""

from __future__ import annotations

from django.db import models

from costwatch.projects.models import Project


class SavingsSettings(models.Model):
    """Threshold overrides of a project (``opportunities.Thresholds`` field names; defaults elsewhere)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="+")
    thresholds = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class ApprovedAlternative(models.Model):
    """A model the project accepts for a feature: the what-if saving on it counts."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    feature = models.TextField()
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["feature", "provider", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "feature", "provider", "model"], name="approved_alternative_identity"
            )
        ]


class SavingsDigest(models.Model):
    """A weekly digest of the top opportunities to one channel. ``last_week`` (ISO week, e.g.
    2026-W48) is claimed with a conditional update, so a week is sent once."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("alerts.Channel", on_delete=models.CASCADE, related_name="+")
    weekday = models.PositiveSmallIntegerField(default=0, help_text="0 = Monday, in the project's time zone.")
    top = models.PositiveSmallIntegerField(default=5)
    enabled = models.BooleanField(default=True)
    last_week = models.CharField(max_length=10, blank=True)
    last_snapshot = models.JSONField(default=dict, blank=True, help_text="{opportunity id: USD per month}.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "channel"], name="one_digest_per_channel")]
