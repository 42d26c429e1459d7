"""What a rollup round costs as its hour fills: rounds of new traces into one hour, each ingested
through the real ingest service, then one ``recompute_dirty`` run timed. Kept by difference, a
round costs what its new traces cost, whatever the hour already holds; a full recompute of the hour
(``recompute_bucket``, what a re-pricing or a new dimension does) is timed once at the end.

    .venv/bin/python bench/rollup_rounds.py --rounds 10 --traces 2000 [--dimension]

Uses DATABASE_URL (a fresh project in it), or the embedded PostgreSQL when it is unset.
"""

from __future__ import annotations

import argparse
import secrets
import time
from datetime import datetime, timedelta, timezone

from _django import setup
from dimension_rollups import _export


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--traces", type=int, default=2000, help="new traces per round (4 spans each)")
    parser.add_argument("--batch", type=int, default=128, help="traces per export (128: 512 spans)")
    parser.add_argument("--dimension", action="store_true", help="with a tenant custom dimension configured")
    args = parser.parse_args()
    setup()
    from costwatch.projects.services import create_project
    from costwatch.usage.dimensions import save_dimension
    from costwatch.usage.models import LlmCall, RollupHour
    from costwatch.usage.rollups import recompute_bucket, recompute_dirty
    from ingest.services import ingest_export

    project = create_project(f"rounds-{secrets.token_hex(3)}")
    if args.dimension:
        save_dimension(project, name="tenant", attribute_keys=["app.tenant"], max_values_per_day=1000)
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    recompute_dirty()  # a dimension's backfill of the empty project
    print(f"{'round':>5} {'calls in hour':>14} {'ingest ms/export':>17} {'round ms':>9} {'ms per new trace':>17}")
    for number in range(1, args.rounds + 1):
        ingest_times = []
        for _ in range(args.traces // args.batch):
            request = _export(args.batch, 2000, hour)
            began = time.perf_counter()
            ingest_export(project, request)
            ingest_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        recompute_dirty()
        took = time.perf_counter() - began
        calls = LlmCall.objects.filter(project=project).count()
        print(
            f"{number:>5} {calls:>14,} {sum(ingest_times) / len(ingest_times) * 1000:>17.1f} {took * 1000:>9.0f}"
            f" {took * 1000 / (args.traces // args.batch * args.batch):>17.3f}"
        )
    began = time.perf_counter()
    recompute_bucket(project.pk, hour)
    print(f"full recompute of the hour ({calls:,} calls): {(time.perf_counter() - began) * 1000:.0f} ms")
    total = RollupHour.objects.get(project=project, hour=hour, dimension="total", key="")
    assert total.llm_calls == calls, (total.llm_calls, calls)
    print(f"exact: the hour's total counts {total.llm_calls:,} calls = calls stored")


if __name__ == "__main__":
    main()
