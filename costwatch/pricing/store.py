"""Price rows as stored: ``ModelPrice`` ↔ ``PriceRow``, the columns' limits, and dated versions.

``set_price`` is the one writer of a price that people or a price file state: it keeps the
versions of a (scope, provider, model, service tier, daily window) and adds a new one only when
the price in force changes. Bulk catalog synchronisation (``costwatch.pricing.imports``) writes
rows keyed by their own dates instead, and uses the conversions and column checks kept here.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, time, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import BigIntegerField, CharField, DecimalField

from costwatch.pricing.cost import PriceRow, price_in_force
from costwatch.pricing.models import ModelPrice, PriceOrigin

if TYPE_CHECKING:
    from costwatch.projects.models import Project

ROW_FIELDS = [f.name for f in fields(PriceRow)]
MAX_TOKENS = 10**12  # token limits and thresholds beyond this are typos, not models
# What identifies a stored row within its scope (the ``price_identity`` constraint, with project).
IDENTITY = ("provider", "model", "service_tier", "effective_from", "daily_from")

# What makes two rows "the same price". Limits (context window, max output) and provenance are
# not part of it: a refresh that only restates a context window must not add a price version.
# The money columns of a price row (USD per million tokens; batch_discount a fraction): what the API
# shows and what a person may set (costwatch.pricing.overrides).
PRICE_MONEY_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "long_input",
    "long_output",
    "long_cache_read",
    "long_cache_write",
    "long_cache_write_1h",
    "output_reasoning",
    "input_audio",
    "input_image",
    "input_video",
    "cache_read_audio",
    "cache_read_image",
    "output_audio",
    "output_image",
    "output_video",
    "batch_discount",
)
PRICE_FIELDS = (*PRICE_MONEY_FIELDS, "long_context_threshold", "currency", "daily_until")


def row_of(price: ModelPrice) -> PriceRow:
    """The pure ``PriceRow`` of a stored price."""
    return PriceRow(**{name: getattr(price, name) for name in ROW_FIELDS})


def db_values(row: PriceRow) -> dict[str, Any]:
    """``row`` as ModelPrice column values (non-token prices as decimal strings in JSON)."""
    values = {name: getattr(row, name) for name in ROW_FIELDS}
    values["other_prices"] = {key: plain(value) for key, value in sorted(row.other_prices.items())}
    return values


def price_label(row: PriceRow | ModelPrice) -> str:
    """ "openai/gpt-4o (batch) 01:00-09:00 UTC from 2025-01-01": a row as a change list names it."""
    tier = f" ({row.service_tier})" if row.service_tier != "standard" else ""
    hours = f" {row.daily_from:%H:%M}-{row.daily_until:%H:%M} UTC" if row.daily_from is not None else ""
    return f"{row.provider}/{row.model}{tier}{hours} from {row.effective_from}"


def plain(value: object) -> str:
    """A column value as a change list shows it: decimals exactly, None as "none"."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return "none" if value is None else str(value)


def as_stored(name: str, value: Any) -> Any:
    """The value as the column keeps it: a price with more decimals than the column is rounded
    the way PostgreSQL rounds NUMERIC (half away from zero), so comparing stays idempotent."""
    places = getattr(ModelPrice._meta.get_field(name), "decimal_places", None)
    if isinstance(value, Decimal) and places is not None:
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return value


def differences(old: ModelPrice, new: PriceRow, names: Iterable[str]) -> list[str]:
    """ "input 2.5 → 2" for each of ``names`` whose stored value differs from ``new``'s."""
    return [
        f"{name} {plain(getattr(old, name))} → {plain(getattr(new, name))}"
        for name in names
        if getattr(old, name) != as_stored(name, getattr(new, name))
    ]


def column_problem(row: PriceRow, *, exact: bool = False) -> str | None:
    """Why ``row`` cannot be stored as it is (too many digits, too long a name), or None.

    With ``exact`` a price with more decimals than the column keeps is a problem too (input
    from people); without, it is rounded as PostgreSQL would (imported files).
    """
    for field in ModelPrice._meta.concrete_fields:
        value = getattr(row, field.name, None) if field.name in ROW_FIELDS else None
        if value is None:
            continue
        if isinstance(field, DecimalField):
            digits = field.max_digits - field.decimal_places
            if value >= Decimal(10) ** digits or as_stored(field.name, value) >= Decimal(10) ** digits:
                return f"{field.name} {plain(value)} is too large (at most {digits} digits before the point)"
            if exact and as_stored(field.name, value) != value:
                return f"{field.name} {plain(value)} has more than {field.decimal_places} decimal places"
        elif isinstance(field, CharField) and field.max_length is not None and len(value) > field.max_length:
            return f"{field.name} is longer than {field.max_length} characters"
        elif isinstance(field, BigIntegerField) and value > MAX_TOKENS:
            return f"{field.name} {value} is too large"
    return None


# --- Dated versions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceChange:
    """What ``set_price`` did: ``added`` the first version, ``changed`` (a version corrected in place
    or a new version; ``label`` lists old → new) or ``unchanged``; ``price`` is the row in force."""

    status: str  # added | changed | unchanged
    label: str
    price: ModelPrice


_TIER_FIELDS = ("long_context_threshold", "long_input", "long_output", "long_cache_read", "long_cache_write")
_INHERITED_FIELDS = (
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "batch_discount",
    "context_window",
    "max_output_tokens",
    "source_url",
    "checked_on",
)


def _filled_from(row: PriceRow, base: ModelPrice) -> PriceRow:
    """``row`` with what it does not state taken from ``base`` (a long-context tier as a whole)."""
    missing = {
        name: getattr(base, name)
        for name in _INHERITED_FIELDS
        if getattr(row, name) in (None, "") and getattr(base, name) not in (None, "")
    }
    if row.long_context_threshold is None and base.long_context_threshold is not None:
        missing.update({name: getattr(base, name) for name in _TIER_FIELDS})
    return replace(row, **missing) if missing else row


def _version_in_force(versions: Iterable[ModelPrice], row: PriceRow) -> ModelPrice | None:
    """The version in force on the day ``row`` starts. ``versions`` share ``row``'s service tier and
    daily window start, so the moment asked is that start: every version's window holds it."""
    moment = datetime.combine(row.effective_from, row.daily_from or time(0), tzinfo=timezone.utc)
    return price_in_force(versions, moment, service_tier=row.service_tier)


def add_version(
    row: PriceRow,
    versions: MutableSequence[ModelPrice],
    *,
    origin: str,
    project: Project | None,
    inherit: bool = False,
) -> PriceChange:
    """Make ``row`` a version among ``versions`` (the stored rows of its model, tier and daily window
    in that scope, locked by the caller; a new row is appended). See ``set_price``. With ``inherit``
    what ``row`` does not state is kept from the version in force (``_filled_from``).

    Raises ``ValueError`` when ``row`` does not fit the columns (``column_problem``).
    """
    problem = column_problem(row)
    if problem:
        raise ValueError(f"{price_label(row)}: {problem}")
    same_day = next((p for p in versions if p.effective_from == row.effective_from), None)
    current = same_day or _version_in_force(versions, row)
    if inherit and current is not None:
        row = _filled_from(row, current)
    values = {name: as_stored(name, value) for name, value in db_values(row).items()}
    if same_day is not None:
        changes = differences(same_day, row, [n for n in values if n not in ("provider", "model", "other_prices")])
        if not changes:
            return PriceChange("unchanged", price_label(row), same_day)
        for name, value in values.items():
            setattr(same_day, name, value)
        same_day.origin = PriceOrigin(origin)
        same_day.save()
        return PriceChange("changed", f"{price_label(row)}: {', '.join(changes)}", same_day)
    if current is not None and not differences(current, row, PRICE_FIELDS):
        return PriceChange("unchanged", price_label(current), current)
    price = ModelPrice.objects.create(project=project, origin=PriceOrigin(origin), **values)
    versions.append(price)
    if current is None:
        return PriceChange("added", price_label(row), price)
    return PriceChange("changed", f"{price_label(row)}: {', '.join(differences(current, row, PRICE_FIELDS))}", price)


@transaction.atomic
def set_price(row: PriceRow, *, origin: str = PriceOrigin.MANUAL, project=None) -> PriceChange:  # noqa: ANN001
    """Make ``row`` the price of its model from ``row.effective_from`` on, globally or for ``project``. Idempotent.

    A row already starting that day is updated in place. Otherwise a new version is added only
    when its prices differ from the version in force that day (the latest start wins), so
    importing the same prices again — on any later day — adds nothing. Earlier versions are
    never rewritten: the calls they priced stay explainable. Raises ``ValueError`` when ``row``
    does not fit the columns.
    """
    versions = list(
        ModelPrice.objects.select_for_update().filter(
            project=project,
            provider=row.provider,
            model=row.model,
            service_tier=row.service_tier,
            daily_from=row.daily_from,
        )
    )
    return add_version(row, versions, origin=origin, project=project)
