from __future__ import annotations

import sys
from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate


class PricingConfig(AppConfig):
    name = "costwatch.pricing"
    label = "pricing"

    def ready(self) -> None:
        post_migrate.connect(load_default_prices_after_migrate, sender=self, dispatch_uid="pricing-default-catalog")


def _in_test_run() -> bool:
    # Django's runner and pytest-django call setup_test_environment() before creating the test
    # database. Tests decide their own prices: a catalog loaded there would change what every
    # test's "unknown model" is, and transactional tests would see it only until the first flush.
    from django.test.utils import _TestState

    return hasattr(_TestState, "saved_data")


def load_default_prices_after_migrate(
    *, plan: Any = None, apps: Any = None, verbosity: int = 1, using: str = DEFAULT_DB_ALIAS, **kwargs: Any
) -> None:
    """Put the default price catalog (installed genai-prices data) into a database with no global prices.

    Runs after ``migrate`` only: ``flush`` sends post_migrate without a plan and must leave the
    table empty. Skipped when migrating backwards or to a state where the pricing tables are not
    (yet) the ones this code expects.
    """
    if plan is None or using != DEFAULT_DB_ALIAS or any(backwards for _, backwards in plan) or _in_test_run():
        return
    from costwatch.pricing.imports import load_default_catalog_if_empty
    from costwatch.pricing.models import ModelPrice

    try:
        migrated = apps.get_model("pricing", "ModelPrice") if apps is not None else ModelPrice
    except LookupError:
        return
    if {f.column for f in migrated._meta.concrete_fields} != {f.column for f in ModelPrice._meta.concrete_fields}:
        return
    result = load_default_catalog_if_empty(by="migrate")
    if result is not None and verbosity >= 1:
        (kwargs.get("stdout") or sys.stdout).write(
            f"Loaded the default price catalog ({result.source} {result.version}): {result.models} models of "
            f"{result.providers} providers, {len(result.added)} prices in {result.seconds:.1f} s.\n"
        )
