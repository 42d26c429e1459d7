"""A realistic-looking few weeks of traffic for browser tests and screenshots (deterministic)."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

USERS = [f"user-{i:02d}@example.com" for i in range(1, 19)]
FEATURES = ["chat", "search", "summaries", "code-review", "translate"]
ROUTES = ["/api/chat", "/api/search", "/api/summarize", "/api/review"]
MODELS = [  # model, $ per call (roughly), weight
    ("gpt-4o", Decimal("0.021"), 5),
    ("gpt-4o-mini", Decimal("0.0012"), 8),
    ("claude-sonnet-4-5", Decimal("0.034"), 3),
    ("claude-haiku-4-5", Decimal("0.004"), 4),
    ("o3", Decimal("0.09"), 1),
    ("in-house-llm", None, 1),
]


def seed_weeks(project, *, days: int = 24, requests_per_day: int = 60, seed: int = 7) -> int:  # noqa: ANN001
    """Requests of several users over the last ``days`` days up to now; returns the number of calls."""
    from costwatch.usage.models import LlmCall, SpanAttribution
    from costwatch.usage.rollups import rebuild_project
    from tests.usage.factories import make_call, make_root

    rng = random.Random(seed)
    now = timezone.now().astimezone(project.tz)
    today = datetime.combine(now.date(), time.min, tzinfo=project.tz)
    calls, roots = [], []
    for day in range(days, -1, -1):
        start = today - timedelta(days=day)
        span = min(now - start, timedelta(days=1))
        for n in range(int(requests_per_day * (0.6 + 0.8 * rng.random()))):
            trace = f"{day:04x}{n:06x}{rng.getrandbits(88):022x}"
            at = start + span * rng.random()
            user, feature = rng.choice(USERS[: 6 + day % 12]), rng.choice(FEATURES)
            root = make_root(project, trace=trace, user=user, feature=feature, route=rng.choice(ROUTES))
            roots.append(root)
            for k in range(rng.choice([1, 1, 2, 3])):
                model, price, _ = rng.choices(MODELS, weights=[m[2] for m in MODELS])[0]
                tokens = rng.randint(200, 4000)
                cached = tokens // 3 if rng.random() < 0.4 else 0
                cost = None if price is None else (price * Decimal(tokens) / 1500).quantize(Decimal("0.000001"))
                hit = cost is not None and rng.random() < 0.05
                calls.append(
                    make_call(
                        project,
                        trace=trace,
                        at=at + timedelta(seconds=k),
                        model=model,
                        tokens=tokens,
                        cache_read=cached,
                        cost=Decimal(0) if hit else cost,
                        hit=hit,
                        list_cost=None if cost is None else (cost * Decimal("1.2") if cached else cost),
                        parent=root.span_id,
                    )
                )
    LlmCall.objects.bulk_create(calls, batch_size=2000)
    SpanAttribution.objects.bulk_create(roots, batch_size=2000)
    rebuild_project(project.pk)
    # Fresh bulk loads have no planner statistics; without them the drill-down joins pick nested loops
    # that take seconds even on a few thousand rows (autovacuum would analyze them later in production).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_llmcall, usage_spanattribution, usage_requestrollup, usage_rolluphour")
    return len(calls)
