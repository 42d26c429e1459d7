"""Response shapes of the pricing API (/api/v1/estimate, prices, aliases).

Prices are USD per 1M tokens as exact decimal strings; a price the row does not set is null.
"""

from __future__ import annotations

from rest_framework import serializers

from costwatch.projects.schema import NullableDecimalString, NullableMoneyString


class PriceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    model = serializers.CharField()
    input = NullableDecimalString(help_text="USD per 1M input tokens")
    output = NullableDecimalString(help_text="USD per 1M output tokens")
    cache_read = NullableDecimalString()
    cache_write = NullableDecimalString(help_text="5-minute cache write")
    cache_write_1h = NullableDecimalString()
    long_input = NullableDecimalString(help_text="Above long_context_threshold prompt tokens")
    long_output = NullableDecimalString()
    long_cache_read = NullableDecimalString()
    long_cache_write = NullableDecimalString()
    long_cache_write_1h = NullableDecimalString()
    output_reasoning = NullableDecimalString(help_text="Reasoning tokens, where billed apart from output")
    input_audio = NullableDecimalString()
    input_image = NullableDecimalString()
    input_video = NullableDecimalString()
    cache_read_audio = NullableDecimalString()
    cache_read_image = NullableDecimalString()
    output_audio = NullableDecimalString()
    output_image = NullableDecimalString()
    output_video = NullableDecimalString()
    batch_discount = NullableDecimalString(help_text="Fraction off for batch / flex, e.g. 0.5")
    unit = serializers.CharField(help_text='e.g. "USD per 1M tokens"')
    currency = serializers.CharField()
    long_context_threshold = serializers.IntegerField(allow_null=True)
    service_tier = serializers.CharField(help_text="standard, flex, batch, priority or fast")
    daily_from_utc = serializers.CharField(allow_null=True, help_text="The row applies from this UTC time of day")
    daily_until_utc = serializers.CharField(allow_null=True, help_text="... until this one (exclusive)")
    other_prices = serializers.DictField(help_text="Prices in units other than tokens: shown, never charged")
    retired = serializers.BooleanField(help_text="The source no longer lists this row")
    effective_from = serializers.DateField()
    effective_until = serializers.DateField(allow_null=True, help_text="Exclusive; null = still in force")
    context_window = serializers.IntegerField(allow_null=True)
    max_output_tokens = serializers.IntegerField(allow_null=True)
    source_url = serializers.CharField(allow_blank=True)
    origin = serializers.CharField()
    override = serializers.BooleanField(help_text="The project's own price, not the global catalog")


class PriceListSerializer(serializers.Serializer):
    project = serializers.CharField()
    scope = serializers.ChoiceField(choices=["overrides", "catalog", "all"])
    results = PriceSerializer(many=True)


class PriceChangeSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="added, changed or unchanged")
    detail = serializers.CharField()
    price = PriceSerializer()
    reprice = serializers.CharField(help_text="How to re-price stored calls")


class EstimatePriceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    model = serializers.CharField()
    input = NullableDecimalString()
    output = NullableDecimalString()
    effective_from = serializers.DateField()
    override = serializers.BooleanField()


class ModelEstimateSerializer(serializers.Serializer):
    model = serializers.CharField()
    provider = serializers.CharField(allow_null=True)
    priced = serializers.BooleanField()
    price_key = serializers.CharField(allow_null=True)
    matched_by = serializers.CharField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    encoding = serializers.CharField()
    approximate = serializers.BooleanField(help_text="Counted with an OpenAI encoding for another vendor's model")
    currency = serializers.CharField(allow_null=True)
    cost = NullableMoneyString(help_text="null when the model is unpriced")
    cost_input = NullableMoneyString()
    cost_output = NullableMoneyString()
    long_context = serializers.BooleanField()
    price = EstimatePriceSerializer(allow_null=True)
    context_window = serializers.IntegerField(allow_null=True)
    max_output_tokens = serializers.IntegerField(allow_null=True)
    fits = serializers.BooleanField(allow_null=True, help_text="null when the model's limits are unknown")
    problems = serializers.ListField(child=serializers.CharField())


class EstimateResultSerializer(serializers.Serializer):
    project = serializers.CharField()
    at = serializers.DateTimeField()
    results = ModelEstimateSerializer(many=True)
    unpriced = serializers.ListField(child=serializers.CharField())
    too_long = serializers.ListField(child=serializers.CharField())


class AliasSerializer(serializers.Serializer):
    alias = serializers.CharField()
    model = serializers.CharField()


class AliasListSerializer(serializers.Serializer):
    project = serializers.CharField()
    results = AliasSerializer(many=True)


class AliasChangeSerializer(serializers.Serializer):
    alias = serializers.CharField()
    model = serializers.CharField()
    created = serializers.BooleanField()
    reprice = serializers.CharField()
