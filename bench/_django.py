"""Set up Django for a benchmark script run from the repository root or bench/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costwatch.settings")
    from costwatch.embedded import use_local_defaults

    use_local_defaults()  # without DATABASE_URL: the embedded PostgreSQL, as manage.py does
    import django

    django.setup()
