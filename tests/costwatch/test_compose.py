"""Docker cannot run here, so the compose file is checked by reading it."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _argv(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_has_the_production_services(compose: dict) -> None:
    assert {"postgres", "redis", "migrate", "web", "grpc", "worker", "beat"} <= set(compose["services"])
    for name in ("postgres", "redis", "web", "grpc", "worker"):
        assert "healthcheck" in compose["services"][name], name


def test_app_services_get_database_and_broker_from_the_environment(compose: dict) -> None:
    for name in ("migrate", "web", "grpc", "worker", "beat"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert "SECRET_KEY" in env


def test_app_services_wait_for_migrations(compose: dict) -> None:
    assert compose["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "grpc", "worker", "beat"):
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_command_exists_in_the_project(compose: dict) -> None:
    commands = get_commands()
    for name, service in compose["services"].items():
        if "command" not in service or "build" not in service:
            continue
        text = " ".join(_argv(service))
        for command in re.findall(r"manage\.py (\w+)", text):
            assert command in commands, f"{name}: manage.py {command} does not exist"
        argv = _argv(service)
        if argv[0] == "gunicorn":
            module, attr = argv[1].split(":")
            assert callable(getattr(importlib.import_module(module), attr))
        if argv[0] == "celery":
            assert argv[1:3] == ["-A", "costwatch"]
            assert importlib.import_module("costwatch").celery_app.main == "costwatch"
            assert argv[3] in {"worker", "beat"}


def test_dockerfile_copies_what_exists() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"


def test_the_web_health_check_asks_readyz(compose: dict) -> None:
    test = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "/readyz" in test


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_web_runs_gthread_workers_sized_to_the_cores_in_compose_the_image_and_make_run(
    compose: dict, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from costwatch.launcher import WEB_THREADS, _services

    cmd = re.search(r"^CMD (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    launcher_web = next(s for s in _services(settings) if s.name == "web").argv
    for argv in (_argv(compose["services"]["web"]), json.loads(cmd.group(1)), launcher_web):
        assert _option(argv, "--worker-class") == "gthread", argv
        assert _option(argv, "--threads") == str(WEB_THREADS) == "4", argv
        assert _option(argv, "--limit-request-line") == "0", argv
        assert _option(argv, "--access-logfile") == "-", argv
    assert _option(launcher_web, "--workers") == str(settings.COSTWATCH_WEB_WORKERS)
    # Compose and the image cannot compute the cores on their command line: the config module does.
    for argv in (_argv(compose["services"]["web"]), json.loads(cmd.group(1))):
        assert "--workers" not in argv
        module = _option(argv, "--config")
        assert module is not None and module.startswith("python:")
        monkeypatch.delenv("COSTWATCH_WEB_WORKERS", raising=False)
        monkeypatch.setenv("WEB_CONCURRENCY", "3")
        config = importlib.reload(importlib.import_module(module.removeprefix("python:")))
        assert config.workers == 3
        monkeypatch.delenv("WEB_CONCURRENCY")
        assert importlib.reload(config).workers == len(os.sched_getaffinity(0))
