"""Raw LLM calls (the source of truth), request attribution, and the buckets waiting for rollup."""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.db.models.functions import MD5
from django.utils import timezone

from costwatch.model_fields import MONEY
from costwatch.projects.models import Project
from costwatch.usage.limits import MAX_ATTRIBUTION_CHARS  # noqa: F401 - re-exported for readers of the models


class UsageState(models.TextChoices):
    """Where a call's token counts come from."""

    REPORTED = "reported", "Reported by the span"
    ESTIMATED = "estimated", "Estimated with tiktoken from the span's text"
    UNKNOWN = "unknown", "Not reported and no text to count: cost unknown"


class LlmCall(models.Model):
    """One priced LLM call. Identity is (project, trace_id, span_id): re-sent spans are ignored."""

    # The tables written per span or per trace (calls, span attributions, trace marks, rollup parts,
    # request rollups) keep their foreign keys in Django only (``db_constraint=False``): checking
    # them cost ~4.5 ms of a 512-span export's commit (~1,400 lookups with key-share locks on the
    # project and price rows). Ingest writes only the authenticated key's project and prices from
    # the catalog; Django still cascades a deleted project and protects a price that priced calls.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="As reported by the span.")
    request_model = models.CharField(max_length=200, blank=True)
    price_key = models.CharField(max_length=200, blank=True, help_text="Catalog key that priced it.")
    operation = models.CharField(max_length=32)
    dialect = models.CharField(max_length=32)
    service = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    input_tokens = models.BigIntegerField(default=0, help_text="Excluding cache reads and writes.")
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0, help_text="Including reasoning.")
    reasoning_tokens = models.BigIntegerField(default=0)
    usage_state = models.CharField(max_length=16, choices=UsageState.choices, default=UsageState.REPORTED)
    service_tier = models.CharField(
        max_length=16,
        blank=True,
        help_text=(
            "The provider's service tier (standard, flex, batch, priority, ...); blank when the span says none."
        ),
    )
    modality_tokens = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Token counts by modality part, each inside its whole: input_audio, input_image, input_video "
            "(of input), cache_read_audio, cache_read_image (of cache_read), output_audio, output_image, "
            "output_video (of output). Empty: all text."
        ),
    )
    cost_approximate = models.BooleanField(
        default=False,
        help_text=(
            "Priced at a fallback rate the catalog does not state for a part of the call (a tier or modality "
            "without its own price): see cost_note."
        ),
    )
    cost_note = models.TextField(blank=True)
    count_basis = models.CharField(
        max_length=16,
        default="reported",
        help_text=(
            "How the counts were read: reported (the reporter's documented rule), from_total (the reported "
            "total settled whether input includes the cache / output the reasoning), inferred (from sizes)."
        ),
    )
    response_cache_hit = models.BooleanField(default=False)
    is_error = models.BooleanField(default=False)
    # What this span itself says; the request's attribution is resolved by the rollup (rollups.py).
    user = models.TextField(blank=True)
    feature = models.TextField(blank=True)
    endpoint = models.TextField(blank=True)
    session = models.TextField(blank=True)
    response_id = models.CharField(max_length=256, blank=True)
    cost_input = models.DecimalField(null=True, blank=True, **MONEY)
    cost_cache_read = models.DecimalField(null=True, blank=True, **MONEY)
    cost_cache_write = models.DecimalField(null=True, blank=True, **MONEY)
    cost_output = models.DecimalField(null=True, blank=True, **MONEY)
    cost_total = models.DecimalField(null=True, blank=True, help_text="NULL = unpriced (unknown model).", **MONEY)
    list_cost = models.DecimalField(null=True, blank=True, help_text="Cost without any caching.", **MONEY)
    reported_cost = models.DecimalField(null=True, blank=True, **MONEY)
    cost_source = models.CharField(max_length=16, blank=True, help_text="computed | reported | (blank: unpriced)")
    price = models.ForeignKey(
        "pricing.ModelPrice", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # started_at is part of the key because the table is partitioned by it (0003_partition);
            # a re-sent span carries the same start time, so (project, trace, span) stays unique.
            models.UniqueConstraint(fields=["project", "trace_id", "span_id", "started_at"], name="llmcall_identity"),
        ]
        indexes = [
            models.Index(fields=["project", "started_at"]),
            # Lookups by (project, trace) use llmcall_identity's leading columns: no index of their own.
            models.Index(F("project"), MD5("user"), F("started_at"), name="llmcall_user_md5_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.trace_id}/{self.span_id}"

    @property
    def estimated(self) -> bool:
        return self.usage_state == UsageState.ESTIMATED


class SpanAttribution(models.Model):
    """One span of a trace as it said itself: its parent and its own attribution attributes.

    Stored for every span that is an LLM call, a root, carries user / feature / session / a SERVER
    ``http.route``, or belongs to a GenAI instrumentation (agent, chain, tool spans), so the rollup can
    walk from a call to its ancestors. Never holds values inherited from other spans: the rollup
    resolves attribution once (``costwatch.usage.rollups``), whatever order the spans arrived in.
    """

    # Lookups by project use spanattribution_identity's leading column: no index of its own.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    is_root = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    user = models.TextField(blank=True)
    feature = models.TextField(blank=True)
    session = models.TextField(blank=True)
    route = models.TextField(blank=True, help_text="http.route of a SERVER span.")
    root_name = models.TextField(blank=True, help_text="The span name, for a root span.")
    dimensions = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            "This span's own values of the project's custom dimensions: {dimension id: value}. Kept for "
            "good; the rollup resolves them through the trace like the user (costwatch.usage.dimensions)."
        ),
    )
    attributes = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            'The span\'s short scalar attributes as strings, {"span": {...}, "resource": {...}}, kept '
            "COSTWATCH_SPAN_ATTRIBUTES_DAYS after the span so a dimension added later can be backfilled."
        ),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_id", "span_id"], name="spanattribution_identity")
        ]
        indexes = [models.Index(F("project"), MD5("user"), name="spanattribution_user_md5_idx")]


class CustomDimension(models.Model):
    """A business dimension of a project (tenant, plan, A/B variant, environment, ...): a name and
    the span or resource attribute keys it reads, first match wins (span attributes before the
    resource's), resolved through the trace like the user. Rolled up as ``dim:<id>``.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=32, help_text="Lower-case letters, digits and _; used as group_by=<name>.")
    attribute_keys = models.JSONField(default=list, help_text="Span or resource attribute keys, first match wins.")
    max_values_per_day = models.PositiveIntegerField(
        help_text=("Distinct values kept per local day; the values seen after that are grouped under (other).")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    backfill_requested_at = models.DateTimeField(null=True, blank=True)
    backfilled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=("When stored spans last got this dimension's values; their hours are then recomputed."),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="customdimension_identity")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def rollup_dimension(self) -> str:
        """The ``dimension`` of this dimension's rollup rows."""
        return f"dim:{self.pk}"


class DimensionValue(models.Model):
    """A value of a custom dimension admitted on one local day (at most ``max_values_per_day``)."""

    dimension = models.ForeignKey(CustomDimension, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(F("dimension"), F("day"), MD5("value"), name="dimensionvalue_identity")]


class DimensionOverflow(models.Model):
    """A local day on which a custom dimension saw more distinct values than it keeps."""

    dimension = models.ForeignKey(CustomDimension, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dimension", "day"], name="dimensionoverflow_identity")]


class DirtyBucket(models.Model):
    """An hour of a project whose rollups must be recomputed from raw calls."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "hour"], name="dirtybucket_identity")]


class DirtyTrace(models.Model):
    """A mark: a trace that received spans, whose rollup parts and request must be recomputed.

    Append-only: ingest inserts one row per trace of each export and never waits for a lock (no
    upsert on a row a rollup may hold); a rollup run claims rows by id (``rollups.claim_sql``),
    recomputes those traces and deletes exactly the rows it claimed, in one transaction.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    trace_id = models.CharField(max_length=32)
    marked_at = models.DateTimeField(default=timezone.now)


class Dimension(models.TextChoices):
    TOTAL = "total", "Project total"
    USER = "user", "User"
    FEATURE = "feature", "Feature"
    ENDPOINT = "endpoint", "Endpoint"
    MODEL = "model", "Model"
    PROVIDER = "provider", "Provider"
    CONVERSATION = "conversation", "Conversation"


class CallMetrics(models.Model):
    """Counted calls summed: cost (USD, priced calls only), tokens and call counts by state."""

    cost = models.DecimalField(default=0, help_text="Sum over the priced calls only.", **MONEY)
    cost_input = models.DecimalField(default=0, **MONEY)
    cost_cache_read = models.DecimalField(default=0, **MONEY)
    cost_cache_write = models.DecimalField(default=0, **MONEY)
    cost_output = models.DecimalField(default=0, **MONEY)
    savings = models.DecimalField(default=0, **MONEY)
    input_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    llm_calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    response_cache_hits = models.BigIntegerField(default=0)
    unpriced_calls = models.BigIntegerField(default=0, help_text="Usage known, model without a price.")
    unknown_usage_calls = models.BigIntegerField(default=0, help_text="Token usage neither reported nor countable.")
    estimated_calls = models.BigIntegerField(default=0, help_text="Token counts estimated from text.")
    priced_calls = models.BigIntegerField(default=0, help_text="Calls whose cost is known (in ``cost``).")
    inferred_calls = models.BigIntegerField(default=0, help_text="Whether counts include their parts was inferred.")
    approximate_calls = models.BigIntegerField(default=0, help_text="Priced at a fallback rate (tier, modality).")

    class Meta:
        abstract = True


class RollupMetrics(CallMetrics):
    """The summed metrics of one group; hit rates and averages are derived from them when read."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    key = models.TextField(blank=True)
    requests = models.BigIntegerField(default=0, help_text="Traces whose first call falls in this bucket.")

    class Meta:
        abstract = True


class RollupPart(CallMetrics):
    """One trace's counted calls in one bucket with one resolved attribution, summed.

    The hour rollups are the sums of their parts: a rollup run replaces a trace's parts and adds
    the difference (new parts minus the parts it replaced) to ``RollupHour`` and ``RollupDay``, so
    its cost grows with the traces it recomputes, not with the hour. Derived from raw calls.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    trace_id = models.CharField(max_length=32)
    hour = models.DateTimeField()
    user = models.TextField(blank=True)
    feature = models.TextField(blank=True)
    endpoint = models.TextField(blank=True)
    model = models.TextField(blank=True)
    provider = models.TextField(blank=True)
    session = models.TextField(blank=True)
    dimensions = models.JSONField(
        null=True, blank=True, help_text="Custom dimension keys of these calls, {dimension id: key ('' not set)}."
    )
    first_in_hour = models.BooleanField(help_text="The trace's first call (counted or not) is in this bucket.")

    class Meta:
        indexes = [models.Index(fields=["project", "trace_id"], name="rolluppart_trace_idx")]


class RollupHour(RollupMetrics):
    """Totals of one group of one dimension over one bucket (the project's local hour, as a UTC
    instant). Derived: the sum of the hour's ``RollupPart`` rows, kept by adding differences."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(F("project"), F("dimension"), MD5("key"), F("hour"), name="rolluphour_identity")
        ]
        indexes = [models.Index(fields=["project", "dimension", "hour"])]


class RollupDay(RollupMetrics):
    """The hours of one calendar day in the project's time zone, summed. Derived from RollupHour
    (kept by the same differences as the hours; ``rollups.recompute_day`` re-sums one from them)."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(F("project"), F("dimension"), MD5("key"), F("day"), name="rollupday_identity")
        ]
        indexes = [models.Index(fields=["project", "dimension", "day"])]


class RollupMonth(RollupMetrics):
    """The days of a calendar month before ``through`` (exclusive), summed from RollupDay.

    A cache for long periods: queries add the days after ``through`` from RollupDay, and a
    recomputed day before ``through`` deletes the row, so reads stay exact while it is stale.
    """

    month = models.DateField(help_text="First day of the month, in the project's time zone.")
    through = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(F("project"), F("dimension"), MD5("key"), F("month"), name="rollupmonth_identity")
        ]
        indexes = [models.Index(fields=["project", "dimension", "month"])]


class DirtyDay(models.Model):
    """A project day whose RollupDay rows must be re-summed from its hours."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "day"], name="dirtyday_identity")]


class RequestRollup(models.Model):
    """One request (trace): its cost, tokens and calls, with the attribution resolved."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    trace_id = models.CharField(max_length=32)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    user = models.TextField(blank=True)
    feature = models.TextField(blank=True)
    endpoint = models.TextField(blank=True)
    session = models.TextField(blank=True)
    cost = models.DecimalField(default=0, help_text="Sum over the priced calls only.", **MONEY)
    input_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    llm_calls = models.BigIntegerField(default=0, help_text="Counted calls (duplicates excluded).")
    unpriced_calls = models.BigIntegerField(default=0)
    unknown_usage_calls = models.BigIntegerField(default=0)
    estimated_calls = models.BigIntegerField(default=0)
    priced_calls = models.BigIntegerField(default=0)
    duplicate_calls = models.BigIntegerField(default=0, help_text="Spans recording a call counted elsewhere.")
    dimensions = models.JSONField(
        null=True,
        blank=True,
        help_text=("The first counted call's custom dimension values, {dimension id: value} (none: not set)."),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="requestrollup_identity")]
        indexes = [
            models.Index(fields=["project", "first_at"]),
            models.Index(F("project"), MD5("user"), F("first_at"), name="requestrollup_user_md5_idx"),
            # The savings advisor's bounded samples: a feature's / endpoint's most recent requests.
            models.Index(F("project"), MD5("feature"), F("first_at"), name="requestrollup_feature_md5_idx"),
            models.Index(F("project"), MD5("endpoint"), F("first_at"), name="requestrollup_endpoint_md5_idx"),
        ]

    @property
    def known_cost(self):  # noqa: ANN201 - Decimal | None
        """The priced calls' cost, or None when the request has calls and none is priced."""
        return self.cost if self.priced_calls or not self.llm_calls else None

    @property
    def not_priced_calls(self) -> int:
        return self.llm_calls - self.priced_calls
