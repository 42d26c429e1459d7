import pytest
from django.core.exceptions import ImproperlyConfigured

from costwatch.config import database_from_url, env_bool, env_int, env_list


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
