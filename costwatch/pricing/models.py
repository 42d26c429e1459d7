"""The stored price catalog. The pure rules live in cost.py / matching.py; this is their storage."""

from __future__ import annotations

from django.db import models

from costwatch.model_fields import NULLABLE_PRICE, PRICE_DIGITS

PRICE = NULLABLE_PRICE


class PriceOrigin(models.TextChoices):
    DEFAULT = "default", "Shipped default catalog"
    GENAI_PRICES = "genai-prices", "genai-prices package"
    HISTORY = "history", "Costwatch price history supplement"
    LITELLM = "litellm", "Imported LiteLLM price file"
    MANUAL = "manual", "Entered by hand"


class ServiceTier(models.TextChoices):
    STANDARD = "standard"
    FLEX = "flex"
    BATCH = "batch"
    PRIORITY = "priority"
    FAST = "fast"


class ModelPrice(models.Model):
    """Prices per million tokens for one model over a period. ``project`` set = an override."""

    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    input = models.DecimalField(**PRICE_DIGITS)
    output = models.DecimalField(**PRICE_DIGITS)
    cache_read = models.DecimalField(**PRICE)
    cache_write = models.DecimalField(**PRICE, help_text="5-minute cache write.")
    cache_write_1h = models.DecimalField(**PRICE, help_text="1-hour cache write.")
    long_context_threshold = models.BigIntegerField(null=True, blank=True)
    long_input = models.DecimalField(**PRICE)
    long_output = models.DecimalField(**PRICE)
    long_cache_read = models.DecimalField(**PRICE)
    long_cache_write = models.DecimalField(**PRICE)
    long_cache_write_1h = models.DecimalField(**PRICE)
    output_reasoning = models.DecimalField(**PRICE)
    input_audio = models.DecimalField(**PRICE)
    input_image = models.DecimalField(**PRICE)
    input_video = models.DecimalField(**PRICE)
    cache_read_audio = models.DecimalField(**PRICE)
    cache_read_image = models.DecimalField(**PRICE)
    output_audio = models.DecimalField(**PRICE)
    output_image = models.DecimalField(**PRICE)
    output_video = models.DecimalField(**PRICE)
    batch_discount = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    service_tier = models.CharField(max_length=16, choices=ServiceTier.choices, default=ServiceTier.STANDARD)
    daily_from = models.TimeField(null=True, blank=True, help_text="UTC time of day the row starts to apply.")
    daily_until = models.TimeField(null=True, blank=True, help_text="UTC, exclusive; may wrap past midnight.")
    other_prices = models.JSONField(
        default=dict, blank=True, help_text="Prices in units other than tokens (shown, not charged)."
    )
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateField()
    effective_until = models.DateField(null=True, blank=True, help_text="Exclusive.")
    context_window = models.BigIntegerField(null=True, blank=True)
    max_output_tokens = models.BigIntegerField(null=True, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    checked_on = models.DateField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=PriceOrigin.choices, default=PriceOrigin.MANUAL)
    retired_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when a catalog sync no longer finds this row in its source: kept for the calls it "
        "priced, no longer used to price new ones.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "provider", "model", "service_tier", "effective_from", "daily_from"],
                name="price_identity",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["model", "effective_from"])]

    def __str__(self) -> str:
        scope = f" for {self.project}" if self.project_id else ""
        tier = f" ({self.service_tier})" if self.service_tier != ServiceTier.STANDARD else ""
        return f"{self.provider}/{self.model}{tier} from {self.effective_from}{scope}"


class CatalogProvider(models.Model):
    """A provider of the global catalog and the source's rules for recognising it.

    ``provider_match`` (a reported provider name) and ``model_match`` (a model name) are match
    clauses in the source's format (``{"contains": "claude"}``, ``{"or": [...]}``; see
    costwatch.pricing.matching.clause_matches). ``fallback_providers``: providers whose models
    this one also serves when it has no price of its own (Azure → OpenAI, Vertex → Anthropic).
    """

    id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    position = models.IntegerField(default=0, help_text="The source's order; matching tries providers in it.")
    pricing_urls = models.JSONField(default=list, blank=True)
    provider_match = models.JSONField(null=True, blank=True)
    model_match = models.JSONField(null=True, blank=True)
    fallback_providers = models.JSONField(default=list, blank=True)
    origin = models.CharField(max_length=16, choices=PriceOrigin.choices, default=PriceOrigin.GENAI_PRICES)

    def __str__(self) -> str:
        return self.id


class CatalogModel(models.Model):
    """A model of the global catalog: its display name and the source's match rule for model ids.

    Its prices are the ``ModelPrice`` rows with the same (provider, model) and no project.
    """

    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    name = models.CharField(max_length=300, blank=True)
    position = models.IntegerField(default=0, help_text="The source's order within the provider.")
    match = models.JSONField(null=True, blank=True, help_text="Match clause for reported model ids.")
    context_window = models.BigIntegerField(null=True, blank=True)
    deprecated = models.BooleanField(default=False)
    price_comments = models.TextField(blank=True)
    origin = models.CharField(max_length=16, choices=PriceOrigin.choices, default=PriceOrigin.GENAI_PRICES)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="catalog_model_identity")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class PriceSync(models.Model):
    """One synchronisation of the global catalog from a source (shown on the pricing page)."""

    source = models.CharField(max_length=32, help_text="genai-prices | litellm")
    version = models.CharField(max_length=64, blank=True)
    by = models.CharField(max_length=150, help_text="Who or what ran it: migrate, syncprices (user), ...")
    at = models.DateTimeField(auto_now_add=True)
    models_count = models.IntegerField(default=0)
    providers_count = models.IntegerField(default=0)
    added = models.IntegerField(default=0)
    changed = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    seconds = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.source} {self.version} at {self.at:%Y-%m-%d %H:%M}"


class Repricing(models.Model):
    """One re-pricing of stored calls: who, when, which calls, and the totals before and after.

    Totals are sums of ``cost_total`` over the calls in scope (USD); calls without a cost are
    counted apart (``unpriced_before`` / ``unpriced_after``), never added as $0.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    by = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    since = models.DateTimeField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    checked = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0)
    total_before = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    total_after = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    unpriced_before = models.BigIntegerField(default=0)
    unpriced_after = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"reprice {self.project} by {self.by} at {self.at:%Y-%m-%d %H:%M}"


class ModelAlias(models.Model):
    """A project's own name for a catalog model (e.g. an Azure deployment name)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    alias = models.CharField(max_length=200)
    model = models.CharField(max_length=200, help_text="Catalog key the alias stands for.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "alias"], name="alias_identity")]

    def __str__(self) -> str:
        return f"{self.alias} → {self.model}"


class CatalogVersion(models.Model):
    """The version of a scope of the price catalog: ``scope`` 0 is the global catalog (global
    prices, catalog models and providers), a project id that project's overrides and aliases.
    Set by database triggers on those tables (migration pricing 0003) at every insert, update (a
    queryset ``update()`` or raw SQL included), delete and truncate, to the next value of a
    sequence, which never rolls back: a version stands for one content of its scope only. A price
    book compares these versions with the ones it cached (``costwatch.pricing.pricebook``); no row
    (version 0) means no change since the triggers were installed.
    """

    scope = models.BigIntegerField(primary_key=True, help_text="0: the global catalog; else a project id.")
    changes = models.BigIntegerField(
        default=0, help_text="The version: a value of the pricing_catalog_change sequence."
    )
