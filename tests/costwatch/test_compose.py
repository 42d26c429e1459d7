"""Docker cannot run here, so the compose file is checked by reading it."""

from __future__ import annotations

import importlib
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
