"""The embedded defaults: a pgserver PostgreSQL under ./var/ and a Celery broker inside it.

Settings only read the environment (``costwatch/settings.py``). The entry points that run without
configuration (``manage.py``, ``make run``'s launcher, the test session) call
``use_local_defaults`` first: it starts the embedded PostgreSQL, makes the local secret key, and
puts ``DATABASE_URL`` and ``CELERY_BROKER_URL`` in the environment, where settings and every child
process read them.

The broker is kombu's SQLAlchemy transport on a database of its own (``costwatch_broker``) in
the same embedded server: no broker process, and no half-written message files (kombu's
``filesystem://`` transport let a worker read a file another process had created but not yet
filled, and the worker died on the ``JSONDecodeError``). PostgreSQL commits a message whole or
not at all, and a consumer takes one with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from costwatch.config import env_str, static_root, var_dir

DATABASE_NAME = "costwatch"
# Set when this process started the embedded server (rather than joining a running one), so a
# test session can stop exactly what it started.
started_here: Path | None = None
BROKER_DATABASE_NAME = "costwatch_broker"
# The local secret key of a run without SECRET_KEY, under var/ (read by settings).
SECRET_KEY_FILE = "secret_key"


def uses_embedded_database() -> bool:
    """Whether this run uses the embedded PostgreSQL: no ``DATABASE_URL`` is set (yet)."""
    return not env_str("DATABASE_URL", "").strip()


def use_local_defaults() -> Path | None:
    """Prepare a run without configuration, before Django settings load.

    Creates ``var/`` and its ``static/`` folder; without ``SECRET_KEY``, a random key in
    ``var/secret_key`` (made once, mode 0600); without ``DATABASE_URL``, starts (or joins) the
    embedded PostgreSQL under ``var/pgdata`` and sets ``DATABASE_URL`` to it and, unless set,
    ``CELERY_BROKER_URL`` to the broker database beside it. Returns the var folder when the
    embedded database is used (the caller may stop it), else None.
    """
    var = var_dir()
    var.mkdir(parents=True, exist_ok=True)
    static_root().mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root
    if not env_str("SECRET_KEY", ""):
        _ensure_secret_key_file(var / SECRET_KEY_FILE)
    if not uses_embedded_database():
        return None
    url = embedded_database_url(var)
    os.environ["DATABASE_URL"] = url
    if not env_str("CELERY_BROKER_URL", "").strip():
        os.environ["CELERY_BROKER_URL"] = embedded_broker_url(url)
    return var


def _ensure_secret_key_file(path: Path) -> None:
    # A local key kept under var/, so sessions survive restarts.
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)


def _import_pgserver():  # noqa: ANN202 - module object
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def embedded_database_url(var: Path) -> str:
    """Start (or join) the embedded PostgreSQL under ``var/pgdata`` and return its URL.

    The server keeps running after this process exits so that web, worker and beat share it;
    ``stop_embedded_database`` stops it.
    """
    import psycopg

    global started_here
    pgserver = _import_pgserver()
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    was_running = embedded_database_running(var) if (var / "pgdata" / "PG_VERSION").exists() else False
    server = pgserver.get_server(var / "pgdata", cleanup_mode=None)
    if not was_running:
        started_here = var
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        for name in (DATABASE_NAME, BROKER_DATABASE_NAME):
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                try:
                    conn.execute(f'CREATE DATABASE "{name}"')
                except psycopg.errors.DuplicateDatabase:
                    pass  # web, worker and beat may start at once: another one made it
    return server.get_uri(DATABASE_NAME)


def embedded_database_running(var: Path) -> bool:
    """Whether the embedded PostgreSQL under ``var/pgdata`` has a live postmaster."""
    from pgserver.utils import PostmasterInfo

    _import_pgserver()
    info = PostmasterInfo.read_from_pgdata(var / "pgdata")
    return info is not None and info.is_running()


def start_embedded_database(var: Path) -> None:
    """Start the embedded PostgreSQL again (after a crash); raises if it cannot start yet."""
    pgserver = _import_pgserver()
    server = pgserver.get_server(var / "pgdata", cleanup_mode=None)
    with server._lock:  # pgserver's own inter-process lock around starting the server
        server.ensure_postgres_running()


def sqlalchemy_broker_url(database_url: str) -> str:
    """kombu's SQLAlchemy transport URL for a ``postgres://`` database URL (psycopg 3 driver)."""
    scheme, rest = database_url.split("://", 1)
    if scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ValueError(f"not a PostgreSQL URL: {database_url!r}")
    return f"sqla+postgresql+psycopg://{rest}"


def embedded_broker_url(database_url: str) -> str:
    """The broker database next to the embedded Costwatch database, as a kombu URL."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    return sqlalchemy_broker_url(urlunsplit(parts._replace(path=f"/{BROKER_DATABASE_NAME}")))


def stop_embedded_database(var: Path) -> None:
    pgserver = _import_pgserver()
    pgdata = var / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)


FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


def filesystem_broker_options(var: Path) -> dict[str, object]:
    """Folders of kombu's ``filesystem://`` transport (still accepted when set explicitly), all
    under ``var/broker/``; ``create_filesystem_broker_folders`` makes them."""
    queue = var / "broker" / "queue"
    processed = var / "broker" / "processed"
    control = var / "broker" / "control"
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
    }


def create_filesystem_broker_folders(options: dict[str, object]) -> None:
    """Create the folders ``filesystem_broker_options`` names (kombu expects them to exist)."""
    for key in FILESYSTEM_BROKER_FOLDERS:
        Path(str(options[key])).mkdir(parents=True, exist_ok=True)
