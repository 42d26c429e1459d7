import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from costwatch.config import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    rate_limit_redis_url,
    usable_cores,
    web_workers,
)
from tests.conftest import REPO


def test_database_url_with_host_port_and_credentials() -> None:
    db = database_from_url("postgres://cw:s%40cret@db.internal:6543/costwatch?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"], db["PASSWORD"]) == (
        "db.internal",
        "6543",
        "costwatch",
        "cw",
        "s@cret",
    )
    assert db["OPTIONS"] == {"sslmode": "require", "options": "-c jit=off"}


def test_database_url_with_unix_socket_in_query() -> None:
    db = database_from_url("postgresql://postgres:@/costwatch?host=/tmp/pg")
    assert db["HOST"] == "/tmp/pg"
    assert db["NAME"] == "costwatch"
    assert db["OPTIONS"] == {"options": "-c jit=off"}


def test_database_url_rejects_other_databases() -> None:
    with pytest.raises(ImproperlyConfigured, match="PostgreSQL only"):
        database_from_url("sqlite:///db.sqlite3")


def test_bad_boolean_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False)
    monkeypatch.setenv("DEBUG", "on")
    assert env_bool("DEBUG", False) is True


def test_bad_integer_and_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTWATCH_PORT", "eighty")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("COSTWATCH_PORT", 8000)
    monkeypatch.setenv("COSTWATCH_PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("COSTWATCH_PORT", 8000, minimum=1)
    monkeypatch.delenv("COSTWATCH_PORT")
    assert env_int("COSTWATCH_PORT", 8000) == 8000


def test_lists_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example , b.example,,")
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def test_the_rate_limit_is_counted_in_a_redis_broker_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSTWATCH_RATE_LIMIT_REDIS_URL", raising=False)
    assert rate_limit_redis_url("redis://redis:6379/0") == "redis://redis:6379/0"
    assert rate_limit_redis_url("rediss://a:6380/0;rediss://b:6380/0") == "rediss://a:6380/0"
    assert rate_limit_redis_url("sqla+postgresql://u@127.0.0.1/costwatch_broker") == ""
    assert rate_limit_redis_url("amqp://guest@127.0.0.1//") == ""
    monkeypatch.setenv("COSTWATCH_RATE_LIMIT_REDIS_URL", "")
    assert rate_limit_redis_url("redis://redis:6379/0") == ""
    monkeypatch.setenv("COSTWATCH_RATE_LIMIT_REDIS_URL", "redis://limits:6379/3")
    assert rate_limit_redis_url("amqp://guest@127.0.0.1//") == "redis://limits:6379/3"
    monkeypatch.setenv("COSTWATCH_RATE_LIMIT_REDIS_URL", "memcached://limits:11211")
    with pytest.raises(ImproperlyConfigured, match="COSTWATCH_RATE_LIMIT_REDIS_URL='memcached://limits:11211' is not"):
        rate_limit_redis_url("redis://redis:6379/0")


def test_web_workers_are_one_per_usable_core_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSTWATCH_WEB_WORKERS", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert web_workers() == usable_cores() >= 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert web_workers() == 3
    monkeypatch.setenv("COSTWATCH_WEB_WORKERS", "5")
    assert web_workers() == 5
    monkeypatch.delenv("COSTWATCH_WEB_WORKERS")
    monkeypatch.setenv("WEB_CONCURRENCY", "0")
    with pytest.raises(ImproperlyConfigured, match="WEB_CONCURRENCY=0 must be at least 1"):
        web_workers()


def test_usable_cores_are_the_processs_cpu_affinity() -> None:
    """A process pinned to one CPU (taskset, a cpuset) counts one core, whatever the machine has."""
    out = subprocess.run(
        [sys.executable, "-c", "from costwatch.config import usable_cores; print(usable_cores())"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1"
