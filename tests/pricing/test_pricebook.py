from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils.timezone import now as django_now

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.models import ModelPrice
from costwatch.pricing.overrides import remove_alias, set_alias, set_override
from costwatch.pricing.pricebook import PriceBook
from costwatch.pricing.store import set_price

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _row(model: str = "gpt-4o", **values) -> PriceRow:  # noqa: ANN003
    return PriceRow(**{"provider": "openai", "model": model, "input": "2.5", "output": "10", **values})


def test_project_override_beats_the_global_price_for_that_project_only(default_catalog, acme, globex) -> None:
    override = set_override(acme, _row(input="1.5", output="6")).price
    acme_price = PriceBook(acme).price_for("gpt-4o", NOW)
    globex_price = PriceBook(globex).price_for("gpt-4o", NOW)
    assert acme_price.price == override and acme_price.row.input == Decimal("1.5")
    assert globex_price.price.project_id is None and globex_price.row.input == Decimal("2.5")


def test_override_applies_to_normalized_names_of_the_model(default_catalog, acme) -> None:
    override = set_override(acme, _row(input="1.5", output="6")).price
    priced = PriceBook(acme).price_for("openai/gpt-4o-2024-08-06", NOW)
    assert (priced.price, priced.how) == (override, "normalized")


def test_self_hosted_model_is_priced_only_where_it_is_overridden(acme, globex) -> None:
    set_override(acme, PriceRow(provider="self-hosted", model="acme-llama-70b", input="0.2", output="0.4"))
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


def test_a_book_prices_every_moment_as_a_new_book_would(default_catalog, acme) -> None:
    """A book remembers each name's price per UTC day and tier: its answers stay those of a new book,
    across days, effective dates, time zones, tiers and a daily window (DeepSeek's peak hours)."""
    set_override(acme, _row(input="1.5", output="6", effective_from=date(2026, 11, 29)))
    book = PriceBook(acme)
    moments = [
        datetime(2026, 11, 28, h, m, tzinfo=timezone.utc) for h, m in ((0, 29), (0, 31), (1, 0), (16, 31), (20, 0))
    ]
    moments += [
        datetime(2026, 11, 28, 23, tzinfo=timezone(timedelta(hours=-5))),  # 04:00 UTC on the 29th
        datetime(2024, 6, 1, 12, tzinfo=timezone.utc),
        datetime(2019, 6, 1, tzinfo=timezone.utc),
    ]
    for model, provider in (("gpt-4o", "openai"), ("deepseek-chat", "deepseek"), ("gpt-5.1", "openai")):
        for tier in (None, "flex", "batch", "priority"):
            for at in moments:
                expected = PriceBook(acme).price_for(model, at, provider=provider, service_tier=tier)
                assert book.price_for(model, at, provider=provider, service_tier=tier) == expected, (model, tier, at)
    peak, off_peak = (book.price_for("deepseek-chat", moments[i], provider="deepseek") for i in (2, 4))
    assert (peak.row.input, off_peak.row.input) == (Decimal("0.27"), Decimal("0.135"))
    before, after = (book.price_for("gpt-4o", at, provider="openai") for at in moments[4:6])
    assert after.row.input == Decimal("1.5") and before != after  # the override starts on the 29th, UTC


def test_price_for_call_falls_back_to_the_requested_model(default_catalog, acme) -> None:
    priced = PriceBook(acme).price_for_call("my-proxy-name", "gpt-4o-mini", NOW)
    assert priced.row.model == "gpt-4o-mini"


def test_a_book_of_an_unchanged_catalog_costs_one_query(default_catalog, acme, django_assert_num_queries) -> None:
    set_override(acme, _row(input="1.5", output="6"))
    set_alias(acme, "prod-gpt4o", "gpt-4o")
    PriceBook(acme)  # loads the catalog and the project's prices into the process
    with django_assert_num_queries(1):
        book = PriceBook(acme)
    assert book.price_for("prod-gpt4o", NOW).row.input == Decimal("1.5")


def test_a_changed_override_or_alias_is_seen_by_the_next_book(default_catalog, acme, globex) -> None:
    assert PriceBook(acme).price_for("gpt-4o", NOW).row.input == Decimal("2.5")
    override = set_override(acme, _row(input="1.5", output="6")).price
    assert PriceBook(acme).price_for("gpt-4o", NOW).price == override
    set_override(acme, _row(input="1.25", output="6"))  # corrected in place: same row, new values
    assert PriceBook(acme).price_for("gpt-4o", NOW).row.input == Decimal("1.25")
    set_alias(acme, "prod", "gpt-4o")
    assert PriceBook(acme).price_for("prod", NOW).row.model == "gpt-4o"
    set_alias(acme, "prod", "gpt-4o-mini")  # the same alias row, pointed elsewhere
    assert PriceBook(acme).price_for("prod", NOW).row.model == "gpt-4o-mini"
    remove_alias(acme, "prod")
    assert PriceBook(acme).price_for("prod", NOW) is None
    ModelPrice.objects.filter(project=acme).delete()
    assert PriceBook(acme).price_for("gpt-4o", NOW).price.project_id is None
    assert PriceBook(globex).price_for("gpt-4o", NOW).price.project_id is None


def test_a_changed_global_catalog_is_seen_by_the_next_book(acme) -> None:
    assert PriceBook(acme).price_for("house-model", NOW) is None
    set_price(PriceRow(provider="house", model="house-model", input="1", output="2"))
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(1)
    ModelPrice.objects.filter(model="house-model").update(input=Decimal(3), updated_at=django_now())
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(3)


def test_any_write_to_the_catalog_is_seen_by_the_next_book_even_one_that_skips_updated_at(acme, globex) -> None:
    from django.db import connection

    from costwatch.pricing.models import CatalogVersion

    set_price(PriceRow(provider="house", model="house-model", input="1", output="2"))
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(1)
    before = dict(CatalogVersion.objects.values_list("scope", "changes"))
    # A queryset update that leaves updated_at alone, then raw SQL: both counted by the triggers.
    ModelPrice.objects.filter(model="house-model").update(input=Decimal(4))
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(4)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pricing_modelprice SET input = 5 WHERE model = 'house-model'")
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(5)
    after = dict(CatalogVersion.objects.values_list("scope", "changes"))
    assert after[0] > before.get(0, 0)

    # A project's override counts for that project only; the global catalog is not reloaded.
    set_override(acme, PriceRow(provider="house", model="house-model", input="7", output="8"))
    counted = dict(CatalogVersion.objects.values_list("scope", "changes"))
    assert counted[acme.pk] > after[0] and counted[0] == after[0] and globex.pk not in counted
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(7)
    assert PriceBook(globex).price_for("house-model", NOW).row.input == Decimal(5)
    ModelPrice.objects.filter(project=acme).update(input=Decimal(9))
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(9)


@pytest.mark.django_db(transaction=True)
def test_a_version_set_by_a_rolled_back_change_is_never_seen_again(acme) -> None:
    """A book built inside a transaction that then rolls back caches what that transaction saw;
    versions come from a sequence, so no later content can be taken for it."""
    from django.db import transaction

    set_price(PriceRow(provider="house", model="house-model", input="1", output="2"))
    with pytest.raises(RuntimeError), transaction.atomic():
        ModelPrice.objects.filter(model="house-model").update(input=Decimal(6))
        assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(6)  # cached here
        raise RuntimeError("rolled back")
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(1)
    ModelPrice.objects.filter(model="house-model").update(input=Decimal(2))  # one change, as inside
    assert PriceBook(acme).price_for("house-model", NOW).row.input == Decimal(2)
