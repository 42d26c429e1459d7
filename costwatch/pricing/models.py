"""The stored price catalog. The pure rules live in cost.py / matching.py; this is their storage."""
from __future__ import annotations

from django.db import models

PRICE = {"max_digits": 20, "decimal_places": 10, "null": True, "blank": True}


class PriceOrigin(models.TextChoices):
    DEFAULT = "default", "Shipped default catalog"
    LITELLM = "litellm", "Imported LiteLLM price file"
    MANUAL = "manual", "Entered by hand"


class ModelPrice(models.Model):
    """Prices per million tokens for one model over a period. ``project`` set = an override."""

    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    input = models.DecimalField(max_digits=20, decimal_places=10)
    output = models.DecimalField(max_digits=20, decimal_places=10)
    cache_read = models.DecimalField(**PRICE)
    cache_write = models.DecimalField(**PRICE)
    cache_write_1h = models.DecimalField(**PRICE)
    long_context_threshold = models.BigIntegerField(null=True, blank=True)
    long_input = models.DecimalField(**PRICE)
    long_output = models.DecimalField(**PRICE)
    long_cache_read = models.DecimalField(**PRICE)
    long_cache_write = models.DecimalField(**PRICE)
    batch_discount = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateField()
    effective_until = models.DateField(null=True, blank=True, help_text="Exclusive.")
    context_window = models.BigIntegerField(null=True, blank=True)
    max_output_tokens = models.BigIntegerField(null=True, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    checked_on = models.DateField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=PriceOrigin.choices, default=PriceOrigin.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "provider", "model", "effective_from"],
                name="price_identity",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["model", "effective_from"])]

    def __str__(self) -> str:
        scope = f" for {self.project}" if self.project_id else ""
        return f"{self.provider}/{self.model} from {self.effective_from}{scope}"


class ModelAlias(models.Model):
    """A project's own name for a catalog model (e.g. an Azure deployment name)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    alias = models.CharField(max_length=200)
    model = models.CharField(max_length=200, help_text="Catalog key the alias stands for.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "alias"], name="alias_identity")]

    def __str__(self) -> str:
        return f"{self.alias} → {self.model}"
