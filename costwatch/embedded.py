"""The embedded defaults: a pgserver PostgreSQL under ./var/ and a Celery broker inside it.

The broker is kombu's SQLAlchemy transport on a database of its own (``costwatch_broker``) in
the same embedded server: no broker process, and no half-written message files (kombu's
``filesystem://`` transport let a worker read a file another process had created but not yet
filled, and the worker died on the ``JSONDecodeError``). PostgreSQL commits a message whole or
not at all, and a consumer takes one with ``SELECT ... FOR UPDATE``.
"""
from __future__ import annotations

import logging
from pathlib import Path

DATABASE_NAME = "costwatch"
# Set when this process started the embedded server (rather than joining a running one), so a
# test session can stop exactly what it started.
started_here: Path | None = None
BROKER_DATABASE_NAME = "costwatch_broker"


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
    import os

    pgserver = _import_pgserver()
    pgdata = var / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)


def filesystem_broker_options(var: Path) -> dict[str, object]:
    """Folders of kombu's ``filesystem://`` transport, still accepted when set explicitly."""
    queue = var / "broker" / "queue"
    processed = var / "broker" / "processed"
    control = var / "broker" / "control"
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
    }
