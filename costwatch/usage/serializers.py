"""Response shapes of the cost API (/api/v1/costs, summary, users, requests, reprice).

Views build plain dicts from costwatch.usage.queries and render them through these serializers, so
the OpenAPI schema and the JSON cannot drift apart. Money is an exact decimal string (USD); a cost
that is unknown because no call of the group was priced is null, never "0".

Where a group's cost is not fully known: ``cost_usd`` sums the priced calls, ``cost_complete`` is false,
and ``unpriced_calls`` / ``unknown_usage_calls`` count the calls left out of it.
"""

from __future__ import annotations

from rest_framework import serializers

from costwatch.projects.schema import MoneyString, NullableMoneyString


class CostRowSerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text="The group: user id, feature, endpoint, model, provider, "
        "conversation, or the day/hour (project time zone)"
    )
    cost_usd = NullableMoneyString(help_text="Total cost; null when no call of the group is priced")
    cost_input_usd = NullableMoneyString()
    cost_cache_read_usd = NullableMoneyString()
    cost_cache_write_usd = NullableMoneyString()
    cost_output_usd = NullableMoneyString(help_text="Output, reasoning included")
    input_tokens = serializers.IntegerField(
        help_text="Prompt tokens read without the cache (excludes cache reads and writes)"
    )
    output_tokens = serializers.IntegerField(help_text="Includes reasoning tokens")
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    llm_calls = serializers.IntegerField()
    requests = serializers.IntegerField()
    # DRF's metaclass moves declared fields off the class, so this does not shadow Serializer.errors.
    errors = serializers.IntegerField()  # type: ignore[assignment]
    priced_calls = serializers.IntegerField(help_text="Calls whose cost is in cost_usd")
    unpriced_calls = serializers.IntegerField(help_text="Calls of a model with no price: not in cost_usd")
    unknown_usage_calls = serializers.IntegerField(
        help_text="Calls whose token usage was neither reported nor countable: not in cost_usd"
    )
    estimated_calls = serializers.IntegerField(help_text="Calls whose tokens were estimated from text (tiktoken)")
    inferred_calls = serializers.IntegerField(
        help_text=(
            "Calls where neither a total nor the reporter's documented rule said whether input includes the cache "
            "(or output the reasoning): decided from the sizes"
        )
    )
    approximate_calls = serializers.IntegerField(
        help_text=(
            "Priced calls with a part priced at a fallback rate (a service tier or modality without its own price)"
        )
    )
    cost_complete = serializers.BooleanField(help_text="True only when every call's cost is known")
    avg_cost_per_request_usd = NullableMoneyString(help_text="null unless cost_complete")
    prompt_cache_hit_rate = serializers.FloatField(allow_null=True, help_text="Cache reads over all prompt tokens")
    response_cache_hit_rate = serializers.FloatField(
        allow_null=True, help_text="Calls answered from the app's own cache, over all calls"
    )
    savings_usd = MoneyString(help_text="What both caches saved against list price")


class CostPageSerializer(serializers.Serializer):
    project = serializers.CharField()
    group_by = serializers.CharField()
    start = serializers.DateTimeField(help_text="Inclusive, UTC offset of the project time zone")
    end = serializers.DateTimeField(help_text="Exclusive")
    count = serializers.IntegerField(help_text="Rows in all pages")
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.IntegerField(allow_null=True, help_text="Next page number, null on the last page")
    previous = serializers.IntegerField(allow_null=True)
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "Why rows may read (other): a custom dimension used here saw more distinct values on some days "
            "than it keeps. Empty when none."
        ),
    )
    results = CostRowSerializer(many=True)


class PeriodSerializer(serializers.Serializer):
    cost_usd = NullableMoneyString(help_text="null when the period has calls and none is priced")
    cost_complete = serializers.BooleanField()
    llm_calls = serializers.IntegerField()
    priced_calls = serializers.IntegerField()
    unpriced_calls = serializers.IntegerField()
    unknown_usage_calls = serializers.IntegerField()


class SummarySerializer(serializers.Serializer):
    project = serializers.CharField()
    timezone = serializers.CharField(help_text="IANA zone of the project's days and months")
    today_usd = NullableMoneyString()
    yesterday_usd = NullableMoneyString()
    month_to_date_usd = NullableMoneyString()
    previous_month_to_date_usd = NullableMoneyString()
    previous_month_usd = NullableMoneyString()
    forecast_month_end_usd = NullableMoneyString(help_text="Month-to-date spend extrapolated at this month's pace")
    savings_month_to_date_usd = MoneyString()
    unpriced_calls_this_month = serializers.IntegerField()
    unknown_usage_calls_this_month = serializers.IntegerField()
    periods = serializers.DictField(
        child=PeriodSerializer(), help_text=("today, yesterday, month_to_date, previous_month_to_date, previous_month")
    )


class RequestSummarySerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    first_at = serializers.DateTimeField()
    user = serializers.CharField(allow_blank=True)
    feature = serializers.CharField(allow_blank=True)
    endpoint = serializers.CharField(allow_blank=True)
    conversation = serializers.CharField(allow_blank=True)
    dimensions = serializers.DictField(
        child=serializers.CharField(),
        help_text=(
            "Custom dimension name -> value, of the request's first counted call; a dimension without a value "
            "is left out"
        ),
    )
    cost_usd = NullableMoneyString(help_text="The counted calls' cost; null when none is priced")
    cost_complete = serializers.BooleanField()
    llm_calls = serializers.IntegerField(help_text="Counted calls (duplicate recordings excluded)")
    priced_calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    unpriced_calls = serializers.IntegerField()
    unknown_usage_calls = serializers.IntegerField()
    estimated_calls = serializers.IntegerField()
    duplicate_calls = serializers.IntegerField(help_text="Spans recording a call counted in another span")


class UserSpendSerializer(serializers.Serializer):
    project = serializers.CharField()
    user = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    cost_usd = NullableMoneyString()
    cost_complete = serializers.BooleanField()
    priced_calls = serializers.IntegerField()
    unpriced_calls = serializers.IntegerField()
    unknown_usage_calls = serializers.IntegerField()
    estimated_calls = serializers.IntegerField()
    llm_calls = serializers.IntegerField()
    by_day = CostRowSerializer(many=True)
    by_feature = CostRowSerializer(many=True)
    by_model = CostRowSerializer(many=True)
    recent_requests = RequestSummarySerializer(many=True)


class PriceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    model = serializers.CharField()
    input_per_mtok = NullableMoneyString()
    output_per_mtok = NullableMoneyString()
    cache_read_per_mtok = NullableMoneyString()
    cache_write_per_mtok = NullableMoneyString()
    effective_from = serializers.CharField(help_text="Date or datetime the price applies from")
    source_url = serializers.CharField(allow_blank=True)
    override = serializers.BooleanField(help_text="A project override, not the global catalog")


class CallSerializer(serializers.Serializer):
    span_id = serializers.CharField()
    parent_span_id = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField()
    counted = serializers.BooleanField(help_text="false for a duplicate recording of a call counted in another span")
    duplicate = serializers.BooleanField()
    user = serializers.CharField(allow_blank=True, help_text="Resolved by the attribution rule (nearest ancestor)")
    feature = serializers.CharField(allow_blank=True)
    endpoint = serializers.CharField(allow_blank=True)
    conversation = serializers.CharField(allow_blank=True)
    dimensions = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text=("Custom dimension name -> resolved value ('' = not set), by the same rule as the user"),
    )
    provider = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    price_key = serializers.CharField(allow_blank=True)
    operation = serializers.CharField(allow_blank=True)
    input_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField(help_text="5-minute and 1-hour cache writes")
    output_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    cache_write_1h_tokens = serializers.IntegerField(help_text="The 1-hour part of cache_write_tokens")
    modality_tokens = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=("Parts by modality, e.g. input_audio (of input), output_audio (of output); empty = text"),
    )
    usage_state = serializers.ChoiceField(["reported", "estimated", "unknown"])
    estimated = serializers.BooleanField(help_text="Tokens counted from text (tiktoken), not reported")
    count_basis = serializers.ChoiceField(
        ["reported", "from_total", "inferred"],
        help_text=(
            "How the counts were read: the reporter's documented rule, settled by the total, or inferred from sizes"
        ),
    )
    service_tier = serializers.CharField(allow_null=True, help_text="standard, flex, batch, priority, ...")
    cost_approximate = serializers.BooleanField(help_text="A part was priced at a fallback rate: see cost_note")
    cost_note = serializers.CharField(allow_null=True)
    response_cache_hit = serializers.BooleanField()
    is_error = serializers.BooleanField()
    cost_usd = NullableMoneyString(help_text="null when unpriced")
    cost_source = serializers.CharField(help_text="computed, reported, unpriced or usage unknown")
    reported_cost_usd = NullableMoneyString(help_text="The cost the span reported itself, if any")
    response_id = serializers.CharField(allow_blank=True, allow_null=True)
    price = PriceRefSerializer(allow_null=True)


class RequestDetailSerializer(serializers.Serializer):
    project = serializers.CharField()
    trace_id = serializers.CharField()
    summary = RequestSummarySerializer(allow_null=True, help_text="null until the rollup has run")
    calls = CallSerializer(many=True)


class RepriceResultSerializer(serializers.Serializer):
    project = serializers.CharField()
    checked = serializers.IntegerField()
    changed = serializers.IntegerField()
    priced = serializers.IntegerField()
    reported = serializers.IntegerField()
    unpriced = serializers.IntegerField()
    hours_marked = serializers.IntegerField(help_text="Rollup hours marked dirty")
    total_before_usd = NullableMoneyString(help_text="Total cost of the checked calls before re-pricing")
    total_after_usd = NullableMoneyString(help_text="And after")
    unpriced_before = serializers.IntegerField()
