"""Settings are a pure read of the environment: loading them starts nothing and writes nothing."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import REPO

SETTINGS = REPO / "costwatch" / "settings.py"
DATABASE_URL = "postgres://cw:secret@db.internal:5432/costwatch"


def _load(monkeypatch: pytest.MonkeyPatch, var: Path, **env: str | None) -> dict[str, Any]:
    """Run costwatch/settings.py afresh with this environment (on top of the test session's)."""
    monkeypatch.setenv("COSTWATCH_VAR_DIR", str(var))
    monkeypatch.delenv("COSTWATCH_STATIC_ROOT", raising=False)
    defaults = {
        "DATABASE_URL": DATABASE_URL,
        "SECRET_KEY": "from-the-environment",
        "DEBUG": None,
        "COSTWATCH_REQUIRE_SECRET_KEY": None,
    }
    for name, value in {**defaults, **env}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_loading_settings_writes_nothing_and_derives_the_broker_from_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    loaded = _load(monkeypatch, var, CELERY_BROKER_URL=None)
    assert not var.exists()
    assert loaded["DATABASES"]["default"]["HOST"] == "db.internal"
    assert loaded["CELERY_BROKER_URL"] == "sqla+postgresql+psycopg://cw:secret@db.internal:5432/costwatch"
    assert loaded["STATIC_ROOT"] == var / "static"
    assert loaded["CELERY_BEAT_SCHEDULE_FILENAME"] == str(var / "celerybeat-schedule")


def test_without_a_database_url_settings_say_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not set: `make run` and `python manage.py`"):
        _load(monkeypatch, tmp_path / "var", DATABASE_URL=None)


def test_a_local_run_reads_its_key_from_var_and_production_requires_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ImproperlyConfigured, match="secret_key does not exist: set SECRET_KEY"):
        _load(monkeypatch, tmp_path, SECRET_KEY=None)
    (tmp_path / "secret_key").write_text("local-key\n")
    assert _load(monkeypatch, tmp_path, SECRET_KEY=None)["SECRET_KEY"] == "local-key"
    assert _load(monkeypatch, tmp_path, SECRET_KEY=None, COSTWATCH_REQUIRE_SECRET_KEY="0")["SECRET_KEY"] == "local-key"
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set in production"):
        _load(monkeypatch, tmp_path, SECRET_KEY=None, COSTWATCH_REQUIRE_SECRET_KEY="1")
    assert (
        _load(monkeypatch, tmp_path, SECRET_KEY=None, COSTWATCH_REQUIRE_SECRET_KEY="1", DEBUG="true")["SECRET_KEY"]
        == "local-key"
    )
    assert _load(monkeypatch, tmp_path, COSTWATCH_REQUIRE_SECRET_KEY="1")["SECRET_KEY"] == "from-the-environment"
    with pytest.raises(ImproperlyConfigured, match="COSTWATCH_REQUIRE_SECRET_KEY='maybe' is not a boolean"):
        _load(monkeypatch, tmp_path, COSTWATCH_REQUIRE_SECRET_KEY="maybe", DEBUG="true")


def test_beat_sends_every_periodic_task_at_its_configured_interval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from costwatch.celery import app

    schedule = _load(
        monkeypatch, tmp_path, COSTWATCH_ROLLUP_INTERVAL_SECONDS="2", COSTWATCH_ALERT_INTERVAL_SECONDS="45"
    )["CELERY_BEAT_SCHEDULE"]
    assert schedule["rollups"] == {
        "task": "costwatch.usage.tasks.recompute_dirty_buckets",
        "schedule": 2.0,
        "options": {"expires": 4.0},
    }
    assert schedule["alerts"]["schedule"] == 45.0
    app.loader.import_default_modules()
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert len(schedule) == 9
