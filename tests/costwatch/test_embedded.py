"""The embedded defaults: what `make run`, manage.py and the test session prepare before settings load."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from costwatch.embedded import stop_embedded_database, use_local_defaults
from tests.conftest import REPO


def test_with_a_database_url_only_the_local_folders_and_key_are_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    monkeypatch.setenv("COSTWATCH_VAR_DIR", str(var))
    monkeypatch.delenv("COSTWATCH_STATIC_ROOT", raising=False)
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setenv("DATABASE_URL", "postgres://cw@db.internal/costwatch")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    assert use_local_defaults() is None
    key = (var / "secret_key").read_text()
    assert len(key) > 50 and stat.S_IMODE((var / "secret_key").stat().st_mode) == 0o600
    assert (var / "static").is_dir()
    assert os.environ["DATABASE_URL"] == "postgres://cw@db.internal/costwatch"
    assert "CELERY_BROKER_URL" not in os.environ

    use_local_defaults()
    assert (var / "secret_key").read_text() == key  # made once


@pytest.mark.process
def test_manage_py_without_a_database_url_runs_on_the_embedded_database_and_broker() -> None:
    # Not under pytest's tmp_path: as root, pgserver runs PostgreSQL as the "pgserver" user, which
    # must traverse every parent folder (tests/costwatch/test_launcher.py says why).
    folder = Path(tempfile.mkdtemp(prefix="costwatch-embedded-"))
    folder.chmod(0o755)
    var = folder / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"}}
    env["COSTWATCH_VAR_DIR"] = str(var)
    code = "from django.conf import settings as s; print(s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL)"
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        name, broker = done.stdout.split()[-2:]
        assert name == "costwatch"
        assert broker.startswith("sqla+postgresql+psycopg://") and "/costwatch_broker" in broker
        assert (var / "pgdata" / "PG_VERSION").exists() and (var / "secret_key").exists()
    finally:
        stop_embedded_database(var)
        shutil.rmtree(folder, ignore_errors=True)
