from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelAlias, ModelPrice
from costwatch.pricing.services import (
    PriceBook,
    PriceInputError,
    load_default_catalog_if_empty,
    price_row_from_input,
    remove_alias,
    set_alias,
    set_price,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _row(model: str = "gpt-4o", **values) -> PriceRow:  # noqa: ANN003
    return PriceRow(**{"provider": "openai", "model": model, "input": "2.5", "output": "10", **values})


def test_project_override_beats_the_global_price_for_that_project_only(default_catalog, acme, globex) -> None:
    override = set_price(_row(input="1.5", output="6"), project=acme).price
    acme_price = PriceBook(acme).price_for("gpt-4o", NOW)
    globex_price = PriceBook(globex).price_for("gpt-4o", NOW)
    assert acme_price.price == override and acme_price.row.input == Decimal("1.5")
    assert globex_price.price.project_id is None and globex_price.row.input == Decimal("2.5")


def test_override_applies_to_normalized_names_of_the_model(default_catalog, acme) -> None:
    override = set_price(_row(input="1.5", output="6"), project=acme).price
    priced = PriceBook(acme).price_for("openai/gpt-4o-2024-08-06", NOW)
    assert (priced.price, priced.how) == (override, "normalized")


def test_self_hosted_model_is_priced_only_where_it_is_overridden(acme, globex) -> None:
    set_price(PriceRow(provider="self-hosted", model="acme-llama-70b", input="0.2", output="0.4"), project=acme)
    assert PriceBook(acme).price_for("acme-llama-70b", NOW).how == "exact"
    assert PriceBook(globex).price_for("acme-llama-70b", NOW) is None


def test_alias_maps_a_deployment_name_to_a_catalog_model(default_catalog, acme, globex) -> None:
    set_alias(acme, "prod-gpt4o", "gpt-4o")
    priced = PriceBook(acme).price_for("azure/prod-gpt4o", NOW)
    assert (priced.row.model, priced.how) == ("gpt-4o", "alias")
    assert PriceBook(globex).price_for("prod-gpt4o", NOW) is None


def test_exact_key_beats_alias_and_dated_snapshot_keeps_its_own_price(default_catalog, acme) -> None:
    set_alias(acme, "gpt-4o-2024-05-13", "gpt-4o-mini")
    book = PriceBook(acme)
    assert book.price_for("gpt-4o-2024-05-13", NOW).row.model == "gpt-4o-2024-05-13"
    assert book.price_for("gpt-4o-2024-08-06", NOW).row.model == "gpt-4o"


def test_price_in_force_follows_effective_dates(default_catalog, acme) -> None:
    book = PriceBook(acme)
    assert book.price_for("gpt-4o", datetime(2024, 6, 1, tzinfo=timezone.utc)).row.input == Decimal("5")
    assert book.price_for("gpt-4o", NOW).row.input == Decimal("2.5")
    assert book.price_for("gpt-4o", datetime(2019, 6, 1, tzinfo=timezone.utc)) is None


def test_source_match_rule_finds_a_snapshot_and_unknown_stays_unpriced(default_catalog, acme) -> None:
    priced = PriceBook(acme).price_for("gpt-4-1106-preview", NOW)
    assert (priced.row.provider, priced.row.model, priced.how) == ("openai", "gpt-4-turbo", "rule")
    assert PriceBook(acme).price_for("totally-unknown-model", NOW) is None


def test_price_for_call_falls_back_to_the_requested_model(default_catalog, acme) -> None:
    priced = PriceBook(acme).price_for_call("my-proxy-name", "gpt-4o-mini", NOW)
    assert priced.row.model == "gpt-4o-mini"


def test_set_price_is_idempotent_and_versions_a_change(acme) -> None:
    first = set_price(_row(effective_from=date(2025, 1, 1)), project=acme)
    again = set_price(_row(effective_from=date(2025, 1, 1)), project=acme)
    later_same = set_price(_row(effective_from=date(2025, 6, 1)), project=acme)
    cut = set_price(_row(input="2", effective_from=date(2025, 9, 1)), project=acme)
    assert [first.status, again.status, later_same.status, cut.status] == ["added", "unchanged", "unchanged", "changed"]
    assert "input 2.5 → 2" in cut.label
    book = PriceBook(acme)
    assert book.price_for("gpt-4o", datetime(2025, 8, 31, tzinfo=timezone.utc)).row.input == Decimal("2.5")
    assert book.price_for("gpt-4o", datetime(2025, 9, 1, tzinfo=timezone.utc)).row.input == Decimal("2")
    assert ModelPrice.objects.filter(project=acme).count() == 2


def test_set_price_on_the_same_start_date_corrects_in_place(acme) -> None:
    set_price(_row(effective_from=date(2025, 1, 1)), project=acme)
    fixed = set_price(_row(output="8", effective_from=date(2025, 1, 1)), project=acme)
    assert fixed.status == "changed" and "output 10 → 8" in fixed.label
    assert ModelPrice.objects.filter(project=acme).get().output == Decimal("8")


def test_set_price_keeps_more_decimals_than_stored_idempotent(acme) -> None:
    row = _row(input="0.123456789012345")
    assert set_price(row, project=acme).status == "added"
    assert set_price(row, project=acme).status == "unchanged"


def test_default_catalog_loads_only_into_an_empty_catalog(db) -> None:
    first = load_default_catalog_if_empty()
    assert first is not None and len(first.added) > 60 and not first.changed
    assert load_default_catalog_if_empty() is None


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
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "effective_from": "2025-02-01",
          "effective_until": "2025-01-01"}, "must be after"),
        (["not", "an", "object"], "JSON object"),
        ({"provider": "x", "model": "m", "input": "1e12", "output": "1"}, "input 1000000000000 is too large"),
        ({"provider": "x", "model": "m", "input": "0.0000000000000000001", "output": "1"}, "more than 18 decimal places"),
        ({"provider": "x", "model": "m" * 201, "input": "1", "output": "1"}, "model is longer than 200"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "context_window": 10**19}, "at most"),
        ({"provider": "x", "model": "m", "input": "1", "output": "1", "currency": "US"}, "three-letter code"),
    ],
)
def test_price_input_is_validated_with_a_clear_message(data, needle: str) -> None:  # noqa: ANN001
    with pytest.raises(PriceInputError, match=re.escape(needle)):
        price_row_from_input(data)


def test_price_input_accepts_strings_and_integers() -> None:
    row = price_row_from_input({"provider": "openai", "model": "GPT-4o", "input": 3, "output": "12.50",
                                "effective_from": "2025-03-01", "context_window": 128000, "currency": "usd"})
    assert (row.model, row.input, row.output, row.effective_from, row.currency) == (
        "gpt-4o", Decimal(3), Decimal("12.50"), date(2025, 3, 1), "USD")


def test_alias_to_an_unknown_model_is_refused_with_a_suggestion(default_catalog, acme) -> None:
    with pytest.raises(PriceInputError, match="did you mean 'gpt-4o'"):
        set_alias(acme, "prod", "gpt-4o-2024-08-06")
    with pytest.raises(PriceInputError, match="not a catalog model"):
        set_alias(acme, "prod", "no-such-model")
    assert not ModelAlias.objects.exists()


def test_alias_can_point_at_a_project_override_and_be_removed(acme) -> None:
    set_price(PriceRow(provider="self-hosted", model="llama-70b", input="0.2", output="0.4"), project=acme)
    alias, created = set_alias(acme, "prod-llama", "llama-70b")
    assert created and PriceBook(acme).price_for("prod-llama", NOW).row.model == "llama-70b"
    assert set_alias(acme, "prod-llama", "llama-70b")[1] is False
    assert remove_alias(acme, "prod-llama") and not remove_alias(acme, "prod-llama")
    assert PriceBook(acme).price_for("prod-llama", NOW) is None
