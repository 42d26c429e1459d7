"""Real background processes for tests: Celery worker and beat against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for the database pytest-django created (committed data only: use transaction=True)."""
    s = connection.settings_dict
    host = s["HOST"] or ""
    auth = quote(s["USER"] or "") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{s['NAME']}?host={quote(host)}"
    return f"postgresql://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env["COSTWATCH_VAR_DIR"] = str(tmp_path / "var")
    env.update(extra)
    return env


@contextmanager
def celery(kind: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `celery -A costwatch <worker|beat>` until the block ends."""
    argv = [sys.executable, "-m", "celery", "-A", "costwatch", kind, "--loglevel", "INFO"]
    if kind == "worker":
        argv += ["--concurrency", "2", "--without-gossip", "--without-mingle"]
    else:
        argv += ["--schedule", str(Path(env["COSTWATCH_VAR_DIR"]) / f"beat-{os.getpid()}")]
    Path(env["COSTWATCH_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
