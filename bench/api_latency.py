"""Server time of the cost API over a month of data (in-process: no network in the figure).

.venv/bin/python bench/api_latency.py --project bench --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import time

from _django import setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="bench")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--start", default=None)
    parser.add_argument("--end", default=None)
    args = parser.parse_args()
    setup()
    from django.conf import settings
    from django.test import Client

    from costwatch.projects.models import Project
    from costwatch.projects.services import issue_key, revoke_key
    from costwatch.usage.models import RollupHour

    settings.ALLOWED_HOSTS = ["*"]
    project = Project.objects.get(slug=args.project)
    last = RollupHour.objects.filter(project=project).order_by("-hour").values_list("hour", flat=True).first()
    end = args.end or f"{last:%Y-%m-%d}"
    start = args.start or f"{last.replace(day=1) if last.day > 1 else last:%Y-%m-%d}"
    issued = issue_key(project, "read", name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    cases = {
        "costs group_by=user (month)": {"group_by": "user", "start": start, "end": end},
        "costs group_by=user page 2 by requests": {
            "group_by": "user",
            "start": start,
            "end": end,
            "ordering": "-requests",
            "page": 2,
        },
        "costs group_by=model (month)": {"group_by": "model", "start": start, "end": end},
        "costs group_by=day (month)": {"group_by": "day", "start": start, "end": end},
        "costs group_by=feature, user filter": {"group_by": "feature", "start": start, "end": end, "user": "user-1"},
    }
    print(f"project={project.slug} period={start}..{end} runs={args.runs}")
    try:
        for label, params in cases.items():
            timings = []
            for _ in range(args.runs):
                began = time.perf_counter()
                response = client.get("/api/v1/costs", params)
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.content[:300]
            count = response.json()["count"]
            timings.sort()
            p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
            print(f"{label:45s} rows={count:>7,}  p50={statistics.median(timings):7.1f} ms  p95={p95:7.1f} ms")
        began = time.perf_counter()
        assert client.get("/api/v1/summary").status_code == 200
        print(f"{'summary':45s} {(time.perf_counter() - began) * 1000:7.1f} ms")
    finally:
        revoke_key(issued.key)


if __name__ == "__main__":
    main()
