from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from costwatch.pricing.catalog import load_default_catalog
from costwatch.pricing.models import ModelPrice, PriceOrigin
from costwatch.pricing.pricebook import PriceBook
from costwatch.usage.models import LlmCall
from tests.usage.factories import make_call

REPO = Path(__file__).resolve().parents[2]
LITELLM = {
    "sample_spec": {"litellm_provider": "one of ...", "mode": "chat", "input_cost_per_token": 0.0},
    "gpt-4o": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-06,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
    },
    "azure/gpt-4o": {
        "litellm_provider": "azure",
        "mode": "chat",
        "input_cost_per_token": 2.75e-06,
        "output_cost_per_token": 1.1e-05,
    },
    "claude-sonnet-4-20250514": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
    },
    "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04},
    "broken-model": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": -1e-06,
        "output_cost_per_token": 1e-06,
    },
    "absurd-model": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 1e20,
        "output_cost_per_token": 1e-06,
    },
}


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_importprices_reports_added_and_skipped_and_a_second_run_changes_nothing(price_file) -> None:  # noqa: ANN001
    path = price_file(LITELLM)
    first = _run("importprices", str(path), "--effective-from", "2025-06-01")
    assert "2 added, 0 changed, 0 unchanged, 4 skipped" in first
    assert "added    openai/gpt-4o from 2025-06-01" in first
    assert "skipped  broken-model: input_cost_per_token is negative" in first
    assert "skipped  dall-e-3: mode 'image_generation' is not priced per token" in first
    assert "skipped  openai/absurd-model: input 100000000000000000000000000 is too large" in first
    gpt4o = ModelPrice.objects.get(model="gpt-4o")
    assert (gpt4o.input, gpt4o.output, gpt4o.cache_read, gpt4o.origin) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
        PriceOrigin.LITELLM,
    )
    second = _run("importprices", str(path), "--effective-from", "2025-07-01")
    assert "0 added, 0 changed, 2 unchanged" in second
    assert ModelPrice.objects.count() == 2


@pytest.mark.django_db
def test_importprices_adds_a_dated_version_when_a_price_changes(price_file) -> None:  # noqa: ANN001
    _run("importprices", str(price_file(LITELLM)), "--effective-from", "2025-06-01")
    cheaper = {**LITELLM, "gpt-4o": {**LITELLM["gpt-4o"], "input_cost_per_token": 2e-06}}
    report = _run("importprices", str(price_file(cheaper)), "--effective-from", "2025-09-01")
    assert "0 added, 1 changed, 1 unchanged" in report
    assert "changed  openai/gpt-4o from 2025-09-01: input 2.5 → 2" in report
    assert "reprice" in report
    book = PriceBook(None)
    assert book.price_for("gpt-4o", datetime(2025, 8, 1, tzinfo=timezone.utc)).row.input == Decimal("2.5")
    assert book.price_for("gpt-4o", datetime(2025, 9, 2, tzinfo=timezone.utc)).row.input == Decimal("2")
    assert "0 added, 0 changed, 2 unchanged" in _run("importprices", str(price_file(cheaper)))


@pytest.mark.django_db
def test_importprices_keeps_what_litellm_does_not_state(default_catalog, price_file) -> None:  # noqa: ANN001
    # LiteLLM's entry has no batch price; the shipped row's 50% batch discount must survive.
    report = _run("importprices", str(price_file({"gpt-4o": LITELLM["gpt-4o"]})), "--effective-from", "2025-06-01")
    assert "0 added, 0 changed, 1 unchanged" in report
    standard = ModelPrice.objects.filter(provider="openai", model="gpt-4o", service_tier="standard")
    assert standard.count() == 2  # the two shipped versions only


@pytest.mark.django_db
def test_importprices_dry_run_writes_nothing(price_file) -> None:  # noqa: ANN001
    report = _run("importprices", str(price_file(LITELLM)), "--dry-run")
    assert report.startswith("dry run, nothing written: ") and "2 added" in report
    assert not ModelPrice.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        ('["gpt-4o"]', "a JSON object keyed by model name, got list"),
        ("{}", "no entry could be read as a LiteLLM per-token price"),
        ('{"format": 1, "models": []}', "no entry could be read as a LiteLLM per-token price (format: entry is not"),
    ],
)
def test_importprices_refuses_a_bad_file_with_a_clear_message(price_file, content: str, needle: str) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="cannot import prices: ") as error:
        _run("importprices", str(price_file(content)))
    assert needle in str(error.value)
    assert not ModelPrice.objects.exists()


@pytest.mark.django_db
def test_importprices_missing_file_and_bad_date(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        _run("importprices", str(tmp_path / "missing.json"))
    with pytest.raises(CommandError, match="--effective-from 'soon' is not a date"):
        _run("importprices", str(tmp_path / "missing.json"), "--effective-from", "soon")


@pytest.mark.django_db
def test_loaddefaultprices_is_idempotent() -> None:
    first = _run("loaddefaultprices")
    assert "0 changed" in first and " 0 added" not in first
    assert "0.2.3): 0 added, 0 changed" in _run("loaddefaultprices")


@pytest.mark.django_db
def test_reprice_command_prices_history_per_project(acme, globex) -> None:  # noqa: ANN001
    at = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
    LlmCall.objects.bulk_create(
        [
            make_call(acme, trace="a", at=at, model="gpt-4o", cost=None, tokens=1000),
            make_call(globex, trace="g", at=at, model="gpt-4o", cost=None, tokens=1000),
        ]
    )
    _run("loaddefaultprices")
    report = _run("reprice", "--project", "acme")
    assert "acme: 1 calls checked, 1 changed; 1 priced, 0 with a reported cost, 0 still unpriced; 1 hours" in report
    assert LlmCall.objects.get(project=globex).cost_total is None
    assert "globex: 1 calls checked, 1 changed" in _run("reprice")
    assert "acme: 1 calls checked, 0 changed" in _run("reprice", "--model", "gpt-4o", "--since", "2026-03-01")


@pytest.mark.django_db
def test_reprice_command_rejects_bad_arguments(acme) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="no project 'nope'"):
        _run("reprice", "--project", "nope")
    with pytest.raises(CommandError, match="since='last week' is not a date"):
        _run("reprice", "--since", "last week")


def _server_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{auth}@localhost:{db['PORT'] or 5432}/{name}?host={quote(db['HOST'] or 'localhost')}"


@pytest.mark.process
def test_migrate_loads_the_default_catalog_into_a_fresh_database(tmp_path: Path) -> None:
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_fresh_migrate"
    admin = dict(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    env = {
        **os.environ,
        "DATABASE_URL": _server_url(name),
        "SECRET_KEY": "test-only",
        "COSTWATCH_VAR_DIR": str(tmp_path),
    }
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
        first = subprocess.run(migrate, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        catalog = load_default_catalog()
        assert (
            f"Loaded the default price catalog (genai-prices {catalog.version}): {len(catalog.models)} models of "
            f"{len(catalog.providers)} providers, {len(catalog.rows) + len(catalog.history)} prices in"
        ) in first.stdout
        second = subprocess.run(migrate, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0 and "default price catalog" not in second.stdout
        with psycopg.connect(**{**admin, "dbname": name}) as conn:
            (count,) = conn.execute("SELECT count(*) FROM pricing_modelprice WHERE project_id IS NULL").fetchone()
        assert count == len(catalog.rows) + len(catalog.history)
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- syncprices ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_syncprices_loads_the_installed_genai_prices_and_a_second_run_keeps_everything() -> None:
    from costwatch.pricing.models import CatalogModel, CatalogProvider, PriceSync

    catalog = load_default_catalog()
    rows = len(catalog.rows) + len(catalog.history)
    dry = _run("syncprices", "--dry-run")
    assert dry.startswith(
        f"dry run, nothing written: genai-prices {catalog.version}: {len(catalog.providers)} providers"
    )
    assert f"prices {rows} added, 0 changed, 0 kept" in dry
    assert not ModelPrice.objects.exists() and not PriceSync.objects.exists()

    first = _run("syncprices")
    assert f"{len(catalog.models)} models; prices {rows} added, 0 changed, 0 kept, 0 retired" in first
    assert "skipped  openai/whisper-1: priced per audio_hours, input_audio_hours, not per token" in _run(
        "syncprices", "-v", "2"
    )
    assert ModelPrice.objects.filter(project__isnull=True).count() == rows
    assert CatalogModel.objects.count() == len(catalog.models) and CatalogProvider.objects.count() == len(
        catalog.providers
    )
    assert f"prices 0 added, 0 changed, {rows} kept, 0 retired" in _run("syncprices", "--source", "genai-prices")
    sync = PriceSync.objects.order_by("-at", "-id").first()
    assert sync.version == catalog.version and sync.by.startswith("syncprices (") and sync.unchanged == rows


@pytest.mark.django_db
def test_syncprices_lists_a_changed_price_and_retires_what_the_source_dropped(acme) -> None:  # noqa: ANN001
    _run("syncprices")
    gpt = ModelPrice.objects.get(
        provider="openai", model="gpt-4o", service_tier="standard", effective_from="2024-10-02"
    )
    gpt.input = Decimal("9")
    gpt.save()
    stale = ModelPrice.objects.create(
        provider="openai", model="gpt-old", input=1, output=1, effective_from="2024-01-01", origin=PriceOrigin.DEFAULT
    )
    override = ModelPrice.objects.create(
        project=acme,
        provider="openai",
        model="gpt-4o",
        input=1,
        output=1,
        effective_from="2024-01-01",
        origin=PriceOrigin.MANUAL,
    )
    report = _run("syncprices")
    assert "1 changed" in report and "1 retired" in report
    assert "changed  openai/gpt-4o from 2024-10-02: input 9 → 2.5" in report
    assert "retired  openai/gpt-old from 2024-01-01" in report
    assert "Stored calls keep their costs until you run `python manage.py reprice`." in report
    stale.refresh_from_db()
    override.refresh_from_db()
    assert stale.retired_at is not None and override.retired_at is None
    assert PriceBook(None).price_for("gpt-old", datetime(2025, 1, 1, tzinfo=timezone.utc)) is None
    assert PriceBook(None).price_for("gpt-4o", datetime(2025, 1, 1, tzinfo=timezone.utc)).row.input == Decimal("2.5")


@pytest.mark.django_db
def test_syncprices_imports_a_litellm_file_and_refuses_two_sources(price_file) -> None:  # noqa: ANN001
    report = _run("syncprices", "--litellm", str(price_file(LITELLM)), "--effective-from", "2025-06-01", "--dry-run")
    assert report.startswith("dry run, nothing written: litellm prices from 2025-06-01: 2 added")
    assert not ModelPrice.objects.exists()
    assert "2 added" in _run("syncprices", "--litellm", str(price_file(LITELLM)), "--effective-from", "2025-06-01")
    with pytest.raises(CommandError, match="not allowed with argument"):
        _run("syncprices", "--litellm", "x.json", "--source", "genai-prices")
    with pytest.raises(CommandError, match="cannot import prices: .*no such file"):
        _run("syncprices", "--litellm", "/nonexistent/prices.json")
