"""The embedded defaults: a pgserver PostgreSQL and a filesystem Celery broker under ./var/."""
from __future__ import annotations

import logging
from pathlib import Path

DATABASE_NAME = "costwatch"


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

    pgserver = _import_pgserver()
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(var / "pgdata", cleanup_mode=None)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(DATABASE_NAME)


def stop_embedded_database(var: Path) -> None:
    import os

    pgserver = _import_pgserver()
    pgdata = var / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)


def filesystem_broker_options(var: Path) -> dict[str, object]:
    queue = var / "broker" / "queue"
    processed = var / "broker" / "processed"
    queue.mkdir(parents=True, exist_ok=True)
    processed.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": False,
    }
