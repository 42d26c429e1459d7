"""Shared test base: two named tenants, so every test can check isolation.

The session prepares the environment as ``manage.py`` does (``costwatch.embedded.use_local_defaults``:
without ``DATABASE_URL``, the embedded PostgreSQL) and then loads Django's settings, so
``DJANGO_SETTINGS_MODULE`` is set here rather than in pyproject.toml (pytest-django would load the
settings before this file). Processes the tests start inherit the environment, a session secret
key included.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_SHARED_TIKTOKEN = REPO.parent / "shared" / "tiktoken-cache"
# Much test data carries fixed dates (recorded spans, the shared cases); the ingest time window
# (ingest/validation.py, default 31 days) would reject them as they age. Tests of the window set
# it themselves (tests/ingest/test_validation.py); subprocesses get it from the environment.
WIDE_INGEST_WINDOW_DAYS = 36500
os.environ.setdefault("COSTWATCH_INGEST_MAX_AGE_DAYS", str(WIDE_INGEST_WINDOW_DAYS))
# Channel receivers in tests are local servers on 127.0.0.1; the SSRF guard's own tests
# (tests/alerts/test_ssrf.py) switch it back on.
os.environ.setdefault("COSTWATCH_ALLOW_PRIVATE_TARGETS", "true")
os.environ.setdefault("SECRET_KEY", f"tests-only-{secrets.token_urlsafe(40)}")


def pytest_configure(config: pytest.Config) -> None:
    if config.option.help or config.option.version:
        return
    from costwatch.embedded import use_local_defaults

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")
    use_local_defaults()
    import django

    django.setup()  # pytest-django's own pytest_configure (trylast) takes it from here


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes the ``browser`` fixture (tests/frontend/test_browser.py) is a browser test."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _test_defaults(settings):  # noqa: ANN001, ANN202
    settings.COSTWATCH_INGEST_MAX_AGE_DAYS = WIDE_INGEST_WINDOW_DAYS
    settings.COSTWATCH_ALLOW_PRIVATE_TARGETS = True


if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_TIKTOKEN.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN)


@pytest.fixture
def acme(db):  # noqa: ANN001, ANN201 - pytest fixture
    from costwatch.projects.services import create_project

    return create_project("acme", name="Acme Corp", timezone_name="Europe/Berlin")


@pytest.fixture
def globex(db):  # noqa: ANN001, ANN201
    from costwatch.projects.services import create_project

    return create_project("globex", name="Globex", timezone_name="America/New_York")


@pytest.fixture
def acme_ingest_key(acme) -> str:  # noqa: ANN001
    from costwatch.projects.services import issue_key

    return issue_key(acme, "ingest").secret


@pytest.fixture
def acme_read_key(acme) -> str:  # noqa: ANN001
    from costwatch.projects.services import issue_key

    return issue_key(acme, "read").secret


@pytest.fixture
def globex_ingest_key(globex) -> str:  # noqa: ANN001
    from costwatch.projects.services import issue_key

    return issue_key(globex, "ingest").secret


@pytest.fixture
def globex_read_key(globex) -> str:  # noqa: ANN001
    from costwatch.projects.services import issue_key

    return issue_key(globex, "read").secret


@pytest.fixture
def default_catalog(db):  # noqa: ANN001, ANN201 - the default catalog (genai-prices), as migrate stores it
    from costwatch.pricing.catalog import load_default_catalog
    from costwatch.pricing.imports import sync_source

    return sync_source(load_default_catalog(), by="test")


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ANN001
    """`make test` on the embedded default: stop the embedded PostgreSQL this session started."""
    from costwatch import embedded

    if embedded.started_here is not None:
        embedded.stop_embedded_database(embedded.started_here)
