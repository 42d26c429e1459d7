"""Reading settings from the environment, failing loudly on bad values. Nothing here writes."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def rate_limit_redis_url(broker_url: str) -> str:
    """Where the ingest rate limit is counted: ``COSTWATCH_RATE_LIMIT_REDIS_URL``, else the broker's
    URL when the broker is Redis (the first of a ``;``-separated fail-over list), else "" (each
    process counts alone). Set it empty to count in each process despite a Redis broker."""
    broker = broker_url.split(";")[0].strip()
    url = env_str("COSTWATCH_RATE_LIMIT_REDIS_URL", broker if broker.startswith(("redis://", "rediss://")) else "")
    url = url.strip()
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"COSTWATCH_RATE_LIMIT_REDIS_URL={url!r} is not a redis://, rediss:// or unix:// URL "
            "(leave it empty to count the ingest rate limit in each process)"
        )
    return url


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cpusets), else ``os.cpu_count()``.

    A container's CPU quota (``docker run --cpus``) is not visible here; set ``WEB_CONCURRENCY``
    there."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity call (macOS)
        return os.cpu_count() or 1


def web_workers() -> int:
    """gunicorn worker processes: ``COSTWATCH_WEB_WORKERS``, else ``WEB_CONCURRENCY`` (gunicorn's
    and many platforms' variable), else one per usable core (``usable_cores``)."""
    return env_int("COSTWATCH_WEB_WORKERS", env_int("WEB_CONCURRENCY", usable_cores(), minimum=1), minimum=1)


def database_from_url(url: str) -> dict[str, object]:
    """Django DATABASES entry from a postgres:// URL (host may also come from ?host=)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// URL (Costwatch runs on PostgreSQL only), got scheme {parts.scheme!r}"
        )
    options = dict(parse_qsl(parts.query))
    # The rollup and cost queries are short but look expensive to the planner; JIT compiling
    # them costs seconds and saves nothing.
    options["options"] = (options.get("options", "") + " -c jit=off").strip()
    host = options.pop("host", None) or (unquote(parts.hostname) if parts.hostname else "")
    name = unquote(parts.path.lstrip("/")) or "postgres"
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"DATABASE_URL has an invalid port: {url!r}") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def var_dir() -> Path:
    """Where the embedded database, broker folders and local secrets live (``COSTWATCH_VAR_DIR``,
    else ``./var``); ``costwatch.embedded.use_local_defaults`` creates it."""
    return Path(env_str("COSTWATCH_VAR_DIR", str(Path.cwd() / "var"))).resolve()


def static_root() -> Path:
    """Where ``collectstatic`` puts static files (``COSTWATCH_STATIC_ROOT``, else ``var/static``)."""
    return Path(env_str("COSTWATCH_STATIC_ROOT", str(var_dir() / "static")))
