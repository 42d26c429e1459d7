"""Where one export's CPU goes: the web process, its PostgreSQL backend, and the rollup's backend.

    .venv/bin/python bench/ingest_cost.py [--exports 60] [--rounds 3]

The same 512-span exports as ``ingest_throughput.py`` (129 traces, 383 priced calls, new trace ids
each time) are POSTed to ``/v1/traces`` through Django's test client in this process (the whole
request path: middleware, authentication, rate limit, parse, map, price, COPY, commit), then one
``recompute_dirty_run`` rolls them up. Per export it prints: the CPU time of this process during
the requests (``time.process_time``), their wall time, the CPU time of the PostgreSQL backend that
served them, and the rollup's backend CPU and wall time. Backend CPU is read from
``/proc/<pid>/stat`` of the backend (``pg_backend_pid()``), so PostgreSQL must run on this machine
(the embedded default, or a local server through ``DATABASE_URL``).

The sum of the three CPU figures is what one export costs the machine, outside gunicorn's HTTP
handling and the Celery worker's own overhead; ``ingest_throughput.py`` measures the whole.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time

from _django import setup


def _ticks(pid: int) -> float:
    """User + system CPU seconds of a process on this machine."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exports", type=int, default=60, help="exports per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup()
    from django.db import connection
    from django.test import Client
    from ingest_throughput import build_template, export_body, spans_start_ns

    from costwatch.projects.models import KeyScope
    from costwatch.projects.services import create_project, issue_key
    from costwatch.usage.rollups import recompute_dirty_run

    template = build_template(512, spans_start_ns())
    project = create_project(f"cost-{secrets.token_hex(3)}")
    secret = issue_key(project, KeyScope.INGEST).secret
    client = Client()
    serial = int(time.time()) % 100_000 * 10_000

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    def send(number: int) -> None:
        response = client.post(
            "/v1/traces",
            data=export_body(template, serial + number),
            content_type="application/x-protobuf",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
        assert response.status_code == 200, (response.status_code, response.content[:300])

    for number in range(3):  # warm-up: caches, prepared temp tables
        send(number)
    recompute_dirty_run(10_000, 10**7)
    print(
        f"{'round':>5} {'web cpu ms':>11} {'web wall ms':>12} {'db cpu ms':>10} "
        f"{'rollup db cpu ms':>17} {'rollup wall ms':>15} {'total cpu ms':>13}   (per 512-span export)"
    )
    sent = 3
    for round_number in range(1, args.rounds + 1):
        pid = backend_pid()
        db0, cpu0, wall0 = _ticks(pid), time.process_time(), time.perf_counter()
        for _ in range(args.exports):
            send(sent)
            sent += 1
        db1, cpu1, wall1 = _ticks(pid), time.process_time(), time.perf_counter()
        run = recompute_dirty_run(10_000, 10**7)
        db2, wall2 = _ticks(backend_pid()), time.perf_counter()
        assert run.traces == args.exports * template.traces, run
        n = args.exports
        web, db, rollup = (cpu1 - cpu0) / n * 1000, (db1 - db0) / n * 1000, (db2 - db1) / n * 1000
        print(
            f"{round_number:>5} {web:>11.1f} {(wall1 - wall0) / n * 1000:>12.1f} {db:>10.1f} "
            f"{rollup:>17.1f} {(wall2 - wall1) / n * 1000:>15.1f} {web + db + rollup:>13.1f}"
        )


if __name__ == "__main__":
    main()
