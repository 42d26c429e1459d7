"""Forms of the settings, pricing and alerts pages: labelled fields, validation, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model

from alerts.models import BudgetPeriod, RequestMetric
from alerts.rules import (
    DRIFT_PROVIDERS,
    MAX_NAME,
    MAX_SCOPE_VALUE,
    field_bounds,
    integer_bounds,
)
from alerts.transports import TRANSPORTS, channel_kinds, config_fields, transport_for
from costwatch.projects.models import KeyScope, Role


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What uses the key, e.g. “checkout service”.")
    scope = forms.ChoiceField(
        choices=KeyScope.choices,
        initial=KeyScope.INGEST,
        help_text="Ingest keys send spans to /v1/traces; read keys query the cost API.",
    )


class MemberForm(forms.Form):
    """Add a person with a role: an existing account by user name, or a new one (then an e-mail is needed)."""

    username = forms.CharField(
        max_length=150,
        label="User name",
        help_text="An existing account, or a new one: it is created and you get a one-time "
        "link for the person to choose a password.",
    )
    email = forms.EmailField(required=False, label="E-mail", help_text="Needed to create a new account.")
    # No default: a role is a decision, never a pre-selected value.
    role = forms.ChoiceField(choices=[("", "Choose a role…"), *Role.choices])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data
        username = (cleaned.get("username") or "").strip()
        if username and not cleaned.get("email") and not get_user_model().objects.filter(username=username).exists():
            self.add_error("email", f"There is no account named {username!r}: give an e-mail address to create it.")
        return cleaned


class DimensionForm(forms.Form):
    """A custom dimension as typed. Only parsing happens here (keys split into a list, the limit
    read as a number); whether the fields make a valid dimension is decided by
    ``costwatch.usage.dimensions.validate_dimension``, whose errors the view puts on these fields."""

    name = forms.CharField(
        required=False,
        strip=True,
        help_text=(
            "Lower-case letters, digits and _, starting with a letter (e.g. tenant, ab_variant). It names the "
            "dimension's page and is group_by=<name> in the cost API; it cannot be changed later."
        ),
    )
    attribute_keys = forms.CharField(
        required=False,
        label="Attribute keys",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "Span or resource attribute keys, one per line (or comma-separated), "
            "e.g. app.tenant_id. The first with a value wins; a span's attributes "
            "before its resource's."
        ),
    )
    max_values_per_day = forms.IntegerField(required=False, label="Daily limit (distinct values)")

    def __init__(self, *args: Any, editing: bool = False, default_limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["name"]
            self.fields["max_values_per_day"].help_text = (
                "Values seen on a day after this many are grouped under (other). A new limit applies to the "
                "days rolled up after the change; empty keeps the current one."
            )
        else:
            self.fields[
                "max_values_per_day"
            ].help_text = f"Values seen on a day after this many are grouped under (other). Empty = {default_limit:,}."

    def clean_attribute_keys(self) -> list[str]:
        raw = self.cleaned_data["attribute_keys"]
        return [key.strip() for line in raw.splitlines() for key in line.split(",") if key.strip()]


class PriceOverrideForm(forms.Form):
    provider = forms.CharField(max_length=64)
    model = forms.CharField(max_length=200, help_text="The catalog key it overrides, e.g. gpt-4o.")
    input = forms.DecimalField(min_value=0, max_digits=20, decimal_places=10, label="Input, $ per million tokens")
    output = forms.DecimalField(min_value=0, max_digits=20, decimal_places=10, label="Output, $ per million tokens")
    cache_read = forms.DecimalField(
        min_value=0, max_digits=20, decimal_places=10, required=False, label="Cache read, $ per million tokens"
    )
    cache_write = forms.DecimalField(
        min_value=0, max_digits=20, decimal_places=10, required=False, label="Cache write, $ per million tokens"
    )
    effective_from = forms.DateField(initial=date.today, widget=forms.DateInput(attrs={"type": "date"}))


# --- Alerts ---------------------------------------------------------------------------------------
# These forms only parse and label the fields; what makes a valid rule or channel is the alerts
# app's call (alerts.rules.validate_rule, the channel kind's transport through save_channel). Number
# bounds and choices come from there too.

SILENCE_CHOICES = [(60, "1 hour"), (240, "4 hours"), (1440, "24 hours"), (10080, "7 days")]


class SilenceForm(forms.Form):
    minutes = forms.TypedChoiceField(choices=SILENCE_CHOICES, coerce=int, initial=240, label="Silence for")
    reason = forms.CharField(max_length=500, help_text="Why, for the incident's history.")


class RuleForm(forms.Form):
    """A rule's fields, grouped: those of every rule, then those of one kind (``KIND_FIELDS``).

    The page shows only the chosen kind's group (``frontend/rule_form.js``; without JavaScript
    both groups show under their headings) and marks what that kind requires (``REQUIRED_FOR``).
    Whether a rule is valid stays the alerts app's decision (``alerts.rules.validate_rule``).
    """

    COMMON_FIELDS = ("name", "kind", "scope", "scope_value")
    KIND_FIELDS = {
        "budget": ("period", "amount_usd", "warn_percents", "forecast"),
        "anomaly": ("anomaly_factor", "anomaly_days", "min_baseline_usd", "min_spend_usd", "same_weekday"),
        "drift": ("drift_percent", "drift_usd", "drift_days", "drift_provider"),
        "request_budget": ("request_metric", "request_limit"),
    }
    REQUIRED_FOR = {
        "budget": ("period", "amount_usd"),
        "anomaly": ("anomaly_factor", "anomaly_days"),
        "drift": ("drift_days",),
        "request_budget": ("request_metric", "request_limit"),
    }
    NOTIFY_FIELDS = ("repeat_interval_minutes", "enabled", "channels")

    name = forms.CharField(max_length=MAX_NAME)
    kind = forms.ChoiceField(
        choices=[
            ("budget", "Budget: spend over a period above an amount"),
            ("anomaly", "Anomaly: a day's spend above N× its recent average"),
            ("drift", "Bill drift: a provider's bill and Costwatch's estimate differ"),
            (
                "request_budget",
                "Per-request budget: each request of a feature or endpoint within a token or dollar limit",
            ),
        ]
    )
    # A Select, not a ChoiceField: which scopes a rule may have is the alerts app's decision
    # (alerts.scopes, through validate_rule), with its reason, not this form's.
    scope = forms.CharField(
        max_length=64,
        widget=forms.Select,
        label="Applies to",
        help_text="A custom dimension (e.g. tenant) is listed by its name.",
    )
    scope_value = forms.CharField(
        max_length=MAX_SCOPE_VALUE,
        required=False,
        label="Only this one",
        help_text="A user id, feature, endpoint, model or dimension value; empty = each one separately.",
    )
    period = forms.ChoiceField(
        choices=BudgetPeriod.choices, required=False, help_text="Budget rules; in the project's time zone."
    )
    amount_usd = forms.DecimalField(
        max_digits=24, decimal_places=12, required=False, label="Budget amount (USD)", **field_bounds("amount_usd")
    )
    warn_percents = forms.CharField(
        required=False, label="Early warnings at (%)", help_text="Budget rules: comma-separated, e.g. 80, 90."
    )
    forecast = forms.BooleanField(required=False, label="Also alert when the period-end forecast exceeds the amount")
    anomaly_factor = forms.DecimalField(
        max_digits=8,
        decimal_places=3,
        required=False,
        initial=2,
        label="Anomaly factor (×)",
        help_text="Anomaly rules: fire above this multiple.",
        **field_bounds("anomaly_factor"),
    )
    anomaly_days = forms.IntegerField(
        required=False,
        initial=7,
        label="Baseline days",
        help_text="Anomaly rules: trailing days averaged.",
        **integer_bounds("anomaly_days"),
    )
    min_baseline_usd = forms.DecimalField(
        max_digits=24,
        decimal_places=12,
        required=False,
        initial=1,
        label="Minimum baseline (USD)",
        **field_bounds("min_baseline_usd"),
    )
    min_spend_usd = forms.DecimalField(
        max_digits=24,
        decimal_places=12,
        required=False,
        initial=5,
        label="Minimum spend (USD)",
        **field_bounds("min_spend_usd"),
    )
    same_weekday = forms.BooleanField(required=False, label="Compare with the same weekday only")
    drift_percent = forms.DecimalField(
        max_digits=8,
        decimal_places=3,
        required=False,
        label="Drift above (% of the bill)",
        help_text="Bill drift rules: per provider and UTC day (see Bills).",
        **field_bounds("drift_percent"),
    )
    drift_usd = forms.DecimalField(
        max_digits=24,
        decimal_places=12,
        required=False,
        label="Drift above (USD)",
        help_text="Bill drift rules: with a % too, both must hold.",
        **field_bounds("drift_usd"),
    )
    drift_days = forms.IntegerField(
        required=False,
        initial=3,
        label="Days watched",
        help_text="Bill drift rules: complete UTC days checked after they end.",
        **integer_bounds("drift_days"),
    )
    drift_provider = forms.ChoiceField(
        choices=[("", "each provider"), *((p, p) for p in DRIFT_PROVIDERS)], required=False, label="Provider"
    )
    request_metric = forms.ChoiceField(
        choices=[("", "—"), *RequestMetric.choices],
        required=False,
        label="Each request may use at most",
        help_text="Per-request budget rules: one incident per feature or endpoint and day.",
    )
    request_limit = forms.DecimalField(
        max_digits=24,
        decimal_places=12,
        required=False,
        label="Limit (tokens, or USD for cost)",
        **field_bounds("request_limit"),
    )
    repeat_interval_minutes = forms.IntegerField(
        initial=60, label="Remind every (minutes)", **integer_bounds("repeat_interval_minutes")
    )
    enabled = forms.BooleanField(required=False, initial=True)
    channels = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Notify these channels"
    )

    def __init__(
        self,
        *args: Any,
        channels: Sequence[tuple[int, str]] = (),
        scopes: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        """``scopes``: (value, label) of what the project's rules may be scoped by
        (``alerts.scopes.scope_choices``)."""
        super().__init__(*args, **kwargs)
        self.fields["scope"].widget.choices = list(scopes)
        cast(forms.MultipleChoiceField, self.fields["channels"]).choices = [(str(pk), name) for pk, name in channels]

    def kind_groups(self) -> list[tuple[str, str, list[tuple[forms.BoundField, bool]]]]:
        """(kind, heading, [(field, required for that kind)]) for the template."""
        headings = {
            "budget": "Budget rule",
            "anomaly": "Anomaly rule",
            "drift": "Bill drift rule",
            "request_budget": "Per-request budget rule",
        }
        return [
            (kind, headings[kind], [(self[name], name in self.REQUIRED_FOR[kind]) for name in names])
            for kind, names in self.KIND_FIELDS.items()
        ]

    def clean_warn_percents(self) -> list[int]:
        raw = self.cleaned_data["warn_percents"].replace(" ", "")
        try:
            return [int(part) for part in raw.split(",") if part]
        except ValueError:
            raise forms.ValidationError("Enter whole numbers separated by commas, e.g. 80, 90.") from None

    def rule_data(self) -> dict[str, object]:
        """The cleaned fields as ``alerts.rules.validate_rule`` takes them."""
        data = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        data["scope_value"] = self.cleaned_data.get("scope_value", "")
        data["channels"] = [int(pk) for pk in self.cleaned_data.get("channels", [])]
        data["warn_percents"] = self.cleaned_data.get("warn_percents") or []  # sent even when empty: clears them
        return data


class ChannelForm(forms.Form):
    """A channel's name and kind, and the config fields of every kind (``alerts.transports``), each
    saying which kinds use it. Only the chosen kind's fields are read (``config``); its transport
    decides whether they are valid."""

    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=channel_kinds)
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = config_fields()
        for name, uses in fields.items():
            self.fields[name] = forms.CharField(
                max_length=max(field.max_length for _, field in uses),
                required=False,
                label=uses[0][1].label,
                help_text=" ".join(f"{TRANSPORTS[kind].label}: {field.help_text}." for kind, field in uses),
            )
        self.order_fields(["name", "kind", *fields, "enabled"])

    def config(self) -> dict[str, object]:
        """The chosen kind's config fields as typed (a list field still comma-separated)."""
        return {field.name: self.cleaned_data[field.name] for field in transport_for(self.cleaned_data["kind"]).fields}


class BillingSourceForm(forms.Form):
    provider = forms.ChoiceField(
        choices=[("openai", "OpenAI (organization Costs API)"), ("anthropic", "Anthropic (Admin API cost report)")]
    )
    name = forms.CharField(max_length=200, required=False)
    admin_key = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        label="Admin key",
        help_text="OpenAI admin key (sk-admin-…) or Anthropic Admin API key (sk-ant-admin…). "
        "Stored encrypted, never shown again.",
    )
    scope_ids = forms.CharField(
        required=False,
        label="Provider projects / workspaces",
        help_text="Comma-separated OpenAI project ids or Anthropic workspace ids; empty = the whole organization.",
    )
    base_url = forms.URLField(
        required=False, assume_scheme="https", label="API base URL", help_text="Empty = the provider's API."
    )

    def clean_scope_ids(self) -> list[str]:
        return [s.strip() for s in self.cleaned_data["scope_ids"].split(",") if s.strip()]


class BillImportForm(forms.Form):
    provider = forms.ChoiceField(choices=[("openai", "OpenAI cost export"), ("anthropic", "Anthropic cost CSV")])
    file = forms.FileField(help_text="CSV; the UTC days it lists replace what was stored for them.")
