"""Rules and channels: what makes a rule valid, and saving rules and channels.

``validate_rule`` is the one owner of a rule's validity; the API (``alerts.api``) and the rule page
(``frontend.views.alerts``) parse their input to typed values and both call it, then ``save_rule``.
It speaks the names people see in the API and on the form: ``amount_usd``, ``min_baseline_usd``,
``min_spend_usd``, ``repeat_interval_minutes``, a scope by its name (``tenant``), channels by id.
A channel's config is the business of its transport (``alerts.transports``); ``save_channel``
checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from alerts.incidents import evaluate_rule
from alerts.models import BudgetPeriod, Channel, RequestMetric, Rule, RuleKind, Scope
from alerts.scopes import ScopeError, check_scope, dimension_pk, is_custom, parse_scope
from alerts.transports import validate_config
from costwatch.billing.sources import SOURCES
from costwatch.projects.models import Project
from costwatch.usage.models import CustomDimension

# Inclusive bounds of the numbers a rule holds (None: unbounded); the API and the form take theirs from here.
LIMITS: dict[str, tuple[Decimal | int | None, Decimal | int | None]] = {
    "amount_usd": (0, None),
    "warn_percents": (1, 99),  # each of them
    "anomaly_factor": (Decimal("1.001"), None),
    "anomaly_days": (1, 90),
    "min_baseline_usd": (0, None),
    "min_spend_usd": (0, None),
    "drift_percent": (Decimal("0.001"), None),
    "drift_usd": (0, None),
    "drift_days": (1, 60),
    "request_limit": (0, None),
    "repeat_interval_minutes": (1, 7 * 24 * 60),
}
MAX_WARN_PERCENTS = 10
MAX_NAME = 200
MAX_SCOPE_VALUE = 512
DRIFT_PROVIDERS = tuple(sorted(SOURCES))  # the providers whose bills Costwatch reads

# People's names -> the model's, where they differ.
_MODEL_FIELD = {"amount_usd": "amount", "min_baseline_usd": "min_baseline", "min_spend_usd": "min_spend"}
_CHOICES: dict[str, Sequence[str]] = {"kind": RuleKind.values, "period": BudgetPeriod.values}
_BLANK_OR_CHOICE: dict[str, Sequence[str]] = {"request_metric": RequestMetric.values, "drift_provider": DRIFT_PROVIDERS}
_PLAIN = (
    "name",
    "kind",
    "period",
    "forecast",
    "anomaly_factor",
    "anomaly_days",
    "same_weekday",
    "drift_percent",
    "drift_usd",
    "drift_days",
    "request_limit",
    "enabled",
)


class DecimalBounds(TypedDict, total=False):
    """Keyword arguments of a decimal form or serializer field: its inclusive bounds, those that are set."""

    min_value: Decimal | int
    max_value: Decimal | int


class IntegerBounds(TypedDict, total=False):
    """Keyword arguments of a whole-number form or serializer field: its inclusive bounds, those that are set."""

    min_value: int
    max_value: int


def field_bounds(name: str) -> DecimalBounds:
    """``min_value``/``max_value`` of a decimal field from ``LIMITS``, for the API's and the form's fields."""
    low, high = LIMITS[name]
    bounds: DecimalBounds = {}
    if low is not None:
        bounds["min_value"] = low
    if high is not None:
        bounds["max_value"] = high
    return bounds


def integer_bounds(name: str) -> IntegerBounds:
    """``min_value``/``max_value`` of a whole-number field from ``LIMITS``, for the API's and the form's
    fields. Raises ``TypeError`` when ``LIMITS`` bounds ``name`` by a Decimal."""
    low, high = LIMITS[name]
    if isinstance(low, Decimal) or isinstance(high, Decimal):
        raise TypeError(f"{name} has decimal bounds; use field_bounds")
    bounds: IntegerBounds = {}
    if low is not None:
        bounds["min_value"] = low
    if high is not None:
        bounds["max_value"] = high
    return bounds


class RuleInvalid(ValueError):
    """A rule that cannot be saved: ``field`` (as the API and the form name it) and ``message``, why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RuleChanges:
    """A validated change: model fields to set, and the channels (None: leave them as they are)."""

    fields: dict[str, Any]
    channels: list[Channel] | None


def validate_rule(project: Project, data: Mapping[str, Any], rule: Rule | None = None) -> RuleChanges:
    """The changes ``data`` makes to ``rule`` (a new rule of ``project`` when None), once valid.

    ``data`` holds the fields given, in people's names (see the module) and parsed to their types
    (``Decimal``, ``int``, ``bool``, ``str``; ``warn_percents`` and ``channels`` lists of ``int``);
    an update gives only what changes, the rest is read from ``rule``. A new rule needs ``name`` and
    ``kind``; its scope defaults to the project. Raises ``RuleInvalid`` for the first problem.
    """
    if rule is None:
        for name in ("name", "kind"):
            if data.get(name) in (None, ""):
                raise RuleInvalid(name, "This field is required.")
    _check_values(data)
    attrs: dict[str, Any] = {name: data[name] for name in _PLAIN if name in data}
    attrs.update({_MODEL_FIELD[name]: data[name] for name in _MODEL_FIELD if name in data})
    if "name" in attrs:
        attrs["name"] = attrs["name"].strip()

    def value(name: str) -> Any:  # noqa: ANN401 - any rule field
        return attrs[name] if name in attrs else getattr(rule, name, None)

    if "repeat_interval_minutes" in data:
        attrs["repeat_interval"] = timedelta(minutes=data["repeat_interval_minutes"])
    if "scope" in data or rule is None:
        try:
            attrs["scope"] = parse_scope(project, data.get("scope", Scope.PROJECT))
        except ScopeError as exc:
            raise RuleInvalid("scope", str(exc)) from None
    for name in ("scope_value", "request_metric", "drift_provider"):  # blank (or null): none
        if name in data:
            attrs[name] = (data[name] or "").strip()
    if value("scope") == Scope.PROJECT and value("scope_value"):
        raise RuleInvalid("scope_value", "a project-wide rule has no scope value")
    kind = value("kind")
    try:
        check_scope(project, kind=kind, scope=value("scope"), scope_value=value("scope_value") or "")
    except ScopeError as exc:
        raise RuleInvalid(
            "scope_value" if value("scope_value") and kind != RuleKind.REQUEST_BUDGET else "scope", str(exc)
        ) from None
    _check_kind(kind, data, value)
    if "warn_percents" in data:
        attrs["warn_percents"] = sorted(set(data["warn_percents"]))
    channels = _channels(project, data["channels"]) if "channels" in data else None
    return RuleChanges(attrs, channels)


def _check_values(data: Mapping[str, Any]) -> None:
    """Each given value on its own: lengths, choices and bounds."""
    if "name" in data:
        name = (data["name"] or "").strip()
        if not name:
            raise RuleInvalid("name", "This field may not be blank.")
        if len(name) > MAX_NAME:
            raise RuleInvalid("name", f"Ensure this field has no more than {MAX_NAME} characters.")
    if len(data.get("scope_value") or "") > MAX_SCOPE_VALUE:
        raise RuleInvalid("scope_value", f"Ensure this field has no more than {MAX_SCOPE_VALUE} characters.")
    for name, allowed in _CHOICES.items():
        if name in data and data[name] not in allowed:
            raise RuleInvalid(name, f'"{data[name]}" is not a valid choice.')
    for name, allowed in _BLANK_OR_CHOICE.items():
        if data.get(name) and data[name] not in allowed:
            raise RuleInvalid(name, f'"{data[name]}" is not a valid choice.')
    percents = data.get("warn_percents") or []
    if len(percents) > MAX_WARN_PERCENTS:
        raise RuleInvalid("warn_percents", f"Ensure this field has no more than {MAX_WARN_PERCENTS} elements.")
    for name, (low, high) in LIMITS.items():
        numbers: list[Decimal | int | None] = list(percents) if name == "warn_percents" else [data.get(name)]
        for number in numbers:
            if number is None:
                continue
            if low is not None and number < low:
                raise RuleInvalid(name, f"Ensure this value is greater than or equal to {low}.")
            if high is not None and number > high:
                raise RuleInvalid(name, f"Ensure this value is less than or equal to {high}.")


def _check_kind(kind: str, data: Mapping[str, Any], value: Callable[[str], Any]) -> None:
    """What each kind of rule needs, and the fields that belong to another kind (``value``: a model
    field's value once changed)."""
    if kind == RuleKind.BUDGET:
        amount = value("amount")
        if amount is None or amount <= 0:
            raise RuleInvalid("amount_usd", "a budget rule needs an amount above 0")
    elif data.get("forecast") or data.get("warn_percents"):
        raise RuleInvalid("kind", "warn_percents and forecast apply to budget rules only")
    if kind == RuleKind.DRIFT:
        if value("scope") != Scope.PROJECT:
            raise RuleInvalid("scope", "a drift rule watches the project's bills: scope must be project")
        if value("drift_percent") is None and value("drift_usd") is None:
            raise RuleInvalid("drift_percent", "a drift rule needs drift_percent, drift_usd or both")
    elif any(data.get(name) for name in ("drift_percent", "drift_usd", "drift_provider")):
        raise RuleInvalid("kind", "drift_percent, drift_usd and drift_provider apply to drift rules only")
    if kind == RuleKind.REQUEST_BUDGET:
        if value("scope") not in (Scope.FEATURE, Scope.ENDPOINT):
            raise RuleInvalid("scope", "a per-request budget applies to each request of a feature or endpoint")
        if not value("request_metric"):
            raise RuleInvalid("request_metric", "a per-request budget needs request_metric")
        limit = value("request_limit")
        if limit is None or limit <= 0:
            raise RuleInvalid("request_limit", "a per-request budget needs a limit above 0")
        if value("request_metric") != RequestMetric.COST and limit != limit.to_integral_value():
            raise RuleInvalid("request_limit", "a token limit is a whole number")
    elif data.get("request_metric") or data.get("request_limit") is not None:
        raise RuleInvalid("kind", "request_metric and request_limit apply to request_budget rules only")


def _channels(project: Project, ids: list[int]) -> list[Channel]:
    wanted = set(ids)
    found = list(Channel.objects.filter(project=project, pk__in=wanted))
    missing = wanted - {c.pk for c in found}
    if missing:
        raise RuleInvalid("channels", f"no channel(s) {sorted(missing)} in project {project.slug}")
    return found


def save_rule(
    project: Project, fields: Mapping[str, Any], channels: list[Channel] | None, rule: Rule | None = None
) -> Rule:
    """Create or update a rule with validated model ``fields`` (``validate_rule``); ``channels`` None
    leaves them as they are. The rule is evaluated once the change commits, so an edit holds at once.

    A rule scoped by a custom dimension holds the dimension's row locked until it commits, so a
    concurrent ``delete_dimension`` either sees the rule (and refuses) or has deleted the dimension
    first (and this raises ``RuleInvalid`` on ``scope``). Channels of another project raise
    ``RuleInvalid`` on ``channels``.
    """
    with transaction.atomic():
        rule = rule or Rule(project=project)
        for name, value in fields.items():
            setattr(rule, name, value)
        pk = dimension_pk(rule.scope)  # None for "dim:" without a number: no such dimension either
        if is_custom(rule.scope) and (
            pk is None or not CustomDimension.objects.select_for_update().filter(project=project, pk=pk).exists()
        ):
            raise RuleInvalid(
                "scope", f"the custom dimension of scope {rule.scope} no longer exists in project {project.slug}"
            )
        if channels is not None and any(c.project_id != project.pk for c in channels):
            raise RuleInvalid("channels", "channels must belong to the rule's project")
        rule.save()
        if channels is not None:
            rule.channels.set(channels)
        rule_id = rule.pk
        transaction.on_commit(lambda: evaluate_rule(rule_id, timezone.now()))
    return rule


def rule_warnings(channels: list[Channel]) -> list[str]:
    """What a person should fix about a rule's notifications (the API and the rule page show it)."""
    if not channels:
        return ["This rule has no channel: it can fire, but it notifies nobody."]
    if not any(c.enabled for c in channels):
        return ["Every channel of this rule is disabled: it can fire, but it notifies nobody."]
    return []


def save_channel(project: Project, fields: Mapping[str, Any], channel: Channel | None = None) -> Channel:
    """Create or update a channel. When ``kind`` or ``config`` changes, the config is checked by the
    kind's transport and stored as it returns it; raises ``ConfigError`` (``alerts.transports``)."""
    channel = channel or Channel(project=project)
    changes = dict(fields)
    if "kind" in changes or "config" in changes:
        changes["config"] = validate_config(changes.get("kind", channel.kind), changes.get("config", channel.config))
    for name, value in changes.items():
        setattr(channel, name, value)
    channel.save()
    return channel
