from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelAlias, ModelPrice
from costwatch.pricing.overrides import PriceInputError, price_row_from_input, remove_alias, set_alias, set_override
from costwatch.pricing.pricebook import PriceBook

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _row(model: str = "gpt-4o", **values) -> PriceRow:  # noqa: ANN003
    return PriceRow(**{"provider": "openai", "model": model, "input": "2.5", "output": "10", **values})


def test_an_override_is_a_manual_version_added_only_when_the_price_changes(acme, globex) -> None:
    first = set_override(acme, _row(effective_from=date(2025, 1, 1)))
    assert (first.status, first.price.project, first.price.origin) == ("added", acme, "manual")
    assert set_override(acme, _row(effective_from=date(2025, 6, 1))).status == "unchanged"
    assert set_override(acme, _row(input="2", effective_from=date(2025, 9, 1))).status == "changed"
    assert [p.input for p in ModelPrice.objects.filter(project=acme).order_by("effective_from")] == [
        Decimal("2.5"),
        Decimal("2"),
    ]
    assert not ModelPrice.objects.filter(project=globex).exists()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"provider": "x", "model": "m", "input": "-1", "output": "1"}, "must not be negative"),
        ({"provider": "x", "model": "m", "input": "NaN", "output": "1"}, "must be finite"),
        ({"provider": "x", "model": "m", "input": "Infinity", "output": "1"}, "must be finite"),
        ({"provider": "x", "model": "m", "input": 2.5, "output": "1"}, "floats are not exact"),
        ({"provider": "x", "model": "m", "input": "2.5abc", "output": "1"}, "not a number"),
        ({"provider": "x", "model": "m", "input": "1e", "output": "1"}, "not a number"),
        ({"provider": "x", "model": "m", "input": True, "output": "1"}, "decimal string"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "colour": "red"}, "unknown field(s) colour"),
        ({"provider": "x", "model": "m", "input": "1"}, "output is required"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "effective_from": "yesterday"}, "YYYY-MM-DD"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "context_window": "1000"}, "whole number"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "batch_discount": "2"}, "fraction"),
        (
            {
                "provider": "x",
                "model": "m",
                "input": "1",
                "output": "1",
                "effective_from": "2025-02-01",
                "effective_until": "2025-01-01",
            },
            "must be after",
        ),
        (["not", "an", "object"], "JSON object"),
        ({"provider": "x", "model": "m", "input": "1e12", "output": "1"}, "input 1000000000000 is too large"),
        (
            {"provider": "x", "model": "m", "input": "0.0000000000000000001", "output": "1"},
            "more than 18 decimal places",
        ),
        ({"provider": "x", "model": "m" * 201, "input": "1", "output": "1"}, "model is longer than 200"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "context_window": 10**19}, "at most"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "currency": "US"}, "three-letter code"),
    ],
)
def test_price_input_is_validated_with_a_clear_message(data, needle: str) -> None:  # noqa: ANN001
    with pytest.raises(PriceInputError, match=re.escape(needle)):
        price_row_from_input(data)


def test_price_input_accepts_strings_and_integers() -> None:
    row = price_row_from_input(
        {
            "provider": "openai",
            "model": "GPT-4o",
            "input": 3,
            "output": "12.50",
            "effective_from": "2025-03-01",
            "context_window": 128000,
            "currency": "usd",
        }
    )
    assert (row.model, row.input, row.output, row.effective_from, row.currency) == (
        "gpt-4o",
        Decimal(3),
        Decimal("12.50"),
        date(2025, 3, 1),
        "USD",
    )


def test_alias_to_an_unknown_model_is_refused_with_a_suggestion(default_catalog, acme) -> None:
    with pytest.raises(PriceInputError, match="did you mean 'gpt-4o'"):
        set_alias(acme, "prod", "gpt-4o-2024-08-06")
    with pytest.raises(PriceInputError, match="not a catalog model"):
        set_alias(acme, "prod", "no-such-model")
    assert not ModelAlias.objects.exists()


def test_alias_can_point_at_a_project_override_and_be_removed(acme) -> None:
    set_override(acme, PriceRow(provider="self-hosted", model="llama-70b", input="0.2", output="0.4"))
    alias, created = set_alias(acme, "prod-llama", "llama-70b")
    assert created and PriceBook(acme).price_for("prod-llama", NOW).row.model == "llama-70b"
    assert set_alias(acme, "prod-llama", "llama-70b")[1] is False
    assert remove_alias(acme, "prod-llama") and not remove_alias(acme, "prod-llama")
    assert PriceBook(acme).price_for("prod-llama", NOW) is None
