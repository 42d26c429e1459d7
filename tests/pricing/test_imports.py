from __future__ import annotations

import pytest

from costwatch.pricing.imports import load_default_catalog_if_empty

pytestmark = pytest.mark.django_db


def test_default_catalog_loads_only_into_an_empty_catalog(db) -> None:
    first = load_default_catalog_if_empty()
    assert first is not None and len(first.added) > 60 and not first.changed
    assert load_default_catalog_if_empty() is None
