"""Fixtures for the stored catalog, price files and people with a role in a project."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def price_file(tmp_path: Path) -> Callable[[Any], Path]:
    """Write a JSON (or raw text) price file into tmp and return its path."""
    counter = iter(range(1000))

    def write(content: Any) -> Path:
        path = tmp_path / f"prices-{next(counter)}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return path

    return write


@pytest.fixture
def person(db) -> Callable[..., Any]:  # noqa: ANN001
    """A user with a role in a project: ``person(acme, "admin")``."""
    from django.contrib.auth import get_user_model

    from costwatch.projects.services import set_member

    def make(project, role: str, name: str | None = None):  # noqa: ANN001, ANN202
        user = get_user_model().objects.create_user(name or f"{role}-{project.slug}", password="pw")
        set_member(project, user, role)
        return user

    return make
