from __future__ import annotations

from dataclasses import fields
from typing import Any

from django import forms
from django.contrib import admin

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelAlias, ModelPrice


class ModelPriceForm(forms.ModelForm):
    source_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = ModelPrice
        fields = "__all__"  # noqa: DJ007 - every column is editable by an admin

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # ModelForm.clean() returns cleaned_data
        if not self.errors:
            # The same rules as every other way in: no negative, NaN or inverted-date prices.
            try:
                PriceRow(**{f.name: data[f.name] for f in fields(PriceRow) if f.name in data})
            except (TypeError, ValueError) as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    form = ModelPriceForm
    list_display = [
        "model",
        "provider",
        "project",
        "input",
        "output",
        "cache_read",
        "cache_write",
        "effective_from",
        "effective_until",
        "origin",
    ]
    list_filter = ["provider", "origin", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["model", "provider"]
    ordering = ["provider", "model", "effective_from"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ["alias", "model", "project"]
    list_filter = [("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["alias", "model"]
