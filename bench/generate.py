"""Synthetic data: N priced LLM calls over D days for U users (skewed), in one project.

    .venv/bin/python bench/generate.py --project bench --calls 10000000 --users 100000 --days 30

Rows are generated inside PostgreSQL (INSERT ... SELECT generate_series) in chunks; then every
hour is marked dirty and the rollups are rebuilt by the same code the worker runs, and timed.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta, timezone

from _django import setup

CHUNK = 1_000_000
MODELS = [  # (model, provider, input $/Mtok, output $/Mtok, share)
    ("gpt-4o", "openai", "2.5", "10"),
    ("gpt-4o-mini", "openai", "0.15", "0.6"),
    ("claude-sonnet-4", "anthropic", "3", "15"),
    ("gemini-2.5-flash", "google", "0.3", "2.5"),
    ("unknown-inhouse", "vllm", None, None),
]

INSERT = """
INSERT INTO usage_llmcall (project_id, trace_id, span_id, parent_span_id, provider, model, request_model, price_key,
    operation, dialect, service, started_at, ended_at, input_tokens, cache_read_tokens, cache_write_tokens,
    cache_write_1h_tokens, output_tokens, reasoning_tokens, usage_state, response_cache_hit, is_error, "user", feature,
    endpoint, session, response_id, cost_input, cost_cache_read, cost_cache_write, cost_output, cost_total,
    list_cost, reported_cost, cost_source, received_at)
SELECT %(project)s, md5(%(seed)s || (g / 3)), lpad(to_hex(g), 16, '0'), '', m.provider, m.model, m.model,
    CASE WHEN m.pin IS NULL THEN '' ELSE m.model END, 'chat', 'bench', 'bench-api',
    t, t + interval '800 milliseconds', i, c, 0, 0, o, 0, 'reported', (g %% 50 = 0), (g %% 200 = 0),
    'user-' || u, 'feature-' || (g %% 12), '/api/v1/endpoint-' || (g %% 25), 'conv-' || (g / 9), '',
    i * m.pin / 1000000, c * m.pin / 10000000, 0, o * m.pout / 1000000,
    CASE WHEN m.pin IS NULL THEN NULL WHEN g %% 50 = 0 THEN 0
         ELSE i * m.pin / 1000000 + c * m.pin / 10000000 + o * m.pout / 1000000 END,
    (i + c) * m.pin / 1000000 + o * m.pout / 1000000,
    NULL, CASE WHEN m.pin IS NULL THEN '' ELSE 'computed' END, now()
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
CROSS JOIN LATERAL (
    SELECT %(start)s::timestamptz + (g::float8 / %(total)s) * %(span)s::interval AS t,
           200 + (hashint8(g) & 4095) AS i, (hashint8(g + 7) & 1023) AS c, 50 + (hashint8(g + 13) & 511) AS o,
           -- Skewed users: a few heavy users, a long tail (cube of a uniform number).
           floor(power((hashint8(g + 29) & 1048575) / 1048576.0, 3) * %(users)s)::int AS u,
           (hashint8(g + 41) & 1023) %% 5 AS mi
) AS r
JOIN (VALUES {models}) AS m(idx, model, provider, pin, pout) ON m.idx = r.mi
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="bench")
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--end", default=None, help="ISO date the data ends (default: now)")
    parser.add_argument("--rollups-only", action="store_true", help="skip inserting; rebuild the rollups")
    args = parser.parse_args()
    setup()
    from django.db import connection

    from costwatch.projects.models import Project
    from costwatch.projects.services import create_project
    from costwatch.usage.models import LlmCall
    from costwatch.usage.partitions import maintain_partitions
    from costwatch.usage.rollups import recompute_dirty
    from costwatch.usage.services import mark_dirty

    project = Project.objects.filter(slug=args.project).first() or create_project(args.project, timezone_name="UTC")
    end = datetime.fromisoformat(args.end).replace(tzinfo=timezone.utc) if args.end else datetime.now(timezone.utc)
    start = end - timedelta(days=args.days)
    for day in (start.date(), end.date()):
        maintain_partitions(today=day, months_ahead=1)
    models = ", ".join(
        f"({i}, '{m}', '{p}', {pin or 'NULL'}::numeric, {pout or 'NULL'}::numeric)"
        for i, (m, p, pin, pout) in enumerate(MODELS)
    )
    offset = LlmCall.objects.filter(project=project).count()
    began = time.monotonic()
    for first in range(0, 0 if args.rollups_only else args.calls, CHUNK):
        last = min(first + CHUNK, args.calls) - 1
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT.format(models=models),
                {
                    "project": project.pk,
                    "seed": f"{project.pk}-{offset}-",
                    "first": offset + first,
                    "last": offset + last,
                    "total": args.calls + offset,
                    "start": start,
                    "span": f"{args.days} days",
                    "users": args.users,
                },
            )
        print(f"inserted {last + 1:>10,} calls  {time.monotonic() - began:6.1f}s", flush=True)
    insert_seconds = max(time.monotonic() - began, 1e-9)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_llmcall")
    hours = []
    moment = start.replace(minute=0, second=0, microsecond=0)
    while moment <= end:
        hours.append(moment)
        moment += timedelta(hours=1)
    mark_dirty(project, hours)
    began = time.monotonic()
    buckets = recompute_dirty(max_buckets=10**9)
    rollup_seconds = time.monotonic() - began
    print(f"project={project.slug} calls={args.calls:,} users={args.users:,} days={args.days}")
    print(f"insert: {insert_seconds:.1f}s ({args.calls / insert_seconds:,.0f} calls/s)")
    print(
        f"rollup rebuild: {buckets} hour buckets in {rollup_seconds:.1f}s "
        f"({rollup_seconds / max(buckets, 1) * 1000:.0f} ms per bucket, "
        f"{args.calls / rollup_seconds:,.0f} calls/s)"
    )


if __name__ == "__main__":
    main()
