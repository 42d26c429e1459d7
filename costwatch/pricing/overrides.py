"""A project's own prices and names: price overrides and model aliases, and checking what people send.

``set_override`` is the one way a project's price is written (the pricing page and
``POST /api/v1/prices`` both call it); ``price_row_from_input`` reads a price sent as JSON;
``set_alias`` / ``remove_alias`` keep the project's names for catalog models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from django.db import transaction

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.matching import match_model
from costwatch.pricing.models import ModelAlias, ModelPrice, PriceOrigin
from costwatch.pricing.pricebook import global_catalog
from costwatch.pricing.store import MAX_TOKENS, PRICE_MONEY_FIELDS, PriceChange, column_problem, set_price


def set_override(project, row: PriceRow) -> PriceChange:  # noqa: ANN001 - Project
    """Make ``row`` the project's own price of its model from ``row.effective_from`` on (origin manual).

    Versioned as ``store.set_price``: a version starting that day is corrected in place; on a
    later day a new version is added only when the price differs from the override in force, so
    sending the same price again adds nothing and earlier versions keep explaining the calls
    they priced. Stored calls keep their cost until re-priced. Raises ``ValueError`` when a
    value does not fit the columns.
    """
    return set_price(row, origin=PriceOrigin.MANUAL, project=project)


class PriceInputError(ValueError):
    """A price or alias sent by a person is invalid; the message says which field and why."""


_INT_INPUT = ("long_context_threshold", "context_window", "max_output_tokens")
_DATE_INPUT = ("effective_from", "effective_until", "checked_on")
_TEXT_INPUT = {"provider": 64, "model": 200, "currency": 3, "source_url": 500, "service_tier": 16}
PRICE_INPUT_FIELDS = frozenset(f.name for f in fields(PriceRow)) - {"other_prices", "daily_from", "daily_until"}


def price_row_from_input(data: Any) -> PriceRow:
    """A ``PriceRow`` from a JSON object, or ``PriceInputError`` naming the bad field.

    Prices are decimal strings (``"2.5"``) or integers; JSON floats are refused because they
    are not exact. Dates are ``YYYY-MM-DD``. Omitting ``effective_from`` means "since ever".
    """
    if not isinstance(data, Mapping):
        raise PriceInputError("send a JSON object")
    unknown = set(data) - PRICE_INPUT_FIELDS
    if unknown:
        raise PriceInputError(
            f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(PRICE_INPUT_FIELDS))}"
        )
    for name in ("provider", "model", "input", "output"):
        if data.get(name) in (None, ""):
            raise PriceInputError(f"{name} is required")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if value is None:
            continue
        if name in _TEXT_INPUT:
            if not isinstance(value, str) or not value.strip():
                raise PriceInputError(f"{name} must be a non-empty string")
            value = value.strip()
            if len(value) > _TEXT_INPUT[name]:
                raise PriceInputError(f"{name} is longer than {_TEXT_INPUT[name]} characters")
        elif name in PRICE_MONEY_FIELDS:
            if isinstance(value, float):
                raise PriceInputError(f'{name}: send prices as decimal strings such as "2.5" (floats are not exact)')
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise PriceInputError(f'{name} must be a decimal string such as "2.5"')
        elif name in _INT_INPUT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PriceInputError(f"{name} must be a whole number of tokens")
            if value > MAX_TOKENS:
                raise PriceInputError(f"{name} must be at most {MAX_TOKENS} tokens")
        elif name in _DATE_INPUT:
            try:
                value = date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                value = None
            if value is None:
                raise PriceInputError(f"{name} must be a date YYYY-MM-DD")
        values[name] = value
    if "currency" in values:
        if len(values["currency"]) != 3 or not values["currency"].isalpha():
            raise PriceInputError("currency must be a three-letter code such as USD")
        values["currency"] = values["currency"].upper()
    values["model"] = values["model"].lower()
    try:
        row = PriceRow(**values)
    except (TypeError, ValueError) as exc:
        raise PriceInputError(str(exc)) from None
    problem = column_problem(row, exact=True)
    if problem:
        raise PriceInputError(problem)
    return row


@transaction.atomic
def set_alias(project, alias: object, model: object) -> tuple[ModelAlias, bool]:  # noqa: ANN001 - Project
    """Map the project's own model name to a catalog key. Returns (alias, created)."""
    alias = (alias or "").strip() if isinstance(alias, str) else ""
    model = (model or "").strip() if isinstance(model, str) else ""
    if not alias or not model:
        raise PriceInputError("alias and model are both required (non-empty strings)")
    if len(alias) > 200 or len(model) > 200:
        raise PriceInputError("alias and model are at most 200 characters")
    known = set(ModelPrice.objects.filter(project__isnull=True).values_list("model", flat=True))
    known |= set(ModelPrice.objects.filter(project=project).values_list("model", flat=True))
    if model not in known:
        guess = match_model(model, known) or global_catalog().matcher.match(model)
        hint = f"; did you mean {guess.key!r}?" if guess else "; add a price for it first (POST /api/v1/prices)"
        raise PriceInputError(f"{model!r} is not a catalog model{hint}")
    if alias == model:
        raise PriceInputError("an alias must differ from the model it stands for")
    return ModelAlias.objects.update_or_create(project=project, alias=alias, defaults={"model": model})


def remove_alias(project, alias: str) -> bool:  # noqa: ANN001 - Project
    deleted, _ = ModelAlias.objects.filter(project=project, alias=alias).delete()
    return deleted > 0
