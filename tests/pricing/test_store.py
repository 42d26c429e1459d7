from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal

import pytest

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelPrice
from costwatch.pricing.pricebook import PriceBook
from costwatch.pricing.store import set_price

pytestmark = pytest.mark.django_db


def _row(model: str = "gpt-4o", **values) -> PriceRow:  # noqa: ANN003
    return PriceRow(**{"provider": "openai", "model": model, "input": "2.5", "output": "10", **values})


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


def test_a_version_of_an_off_peak_price_is_compared_with_the_one_in_force(acme) -> None:
    day = {"daily_from": time(16, 30), "daily_until": time(0, 30)}
    assert set_price(_row(effective_from=date(2025, 1, 1), **day), project=acme).status == "added"
    assert set_price(_row(effective_from=date(2025, 6, 1), **day), project=acme).status == "unchanged"
    cut = set_price(_row(input="2", effective_from=date(2025, 9, 1), **day), project=acme)
    assert cut.status == "changed" and "input 2.5 → 2" in cut.label
    assert ModelPrice.objects.filter(project=acme).count() == 2
