"""Savings advisor cost over a project's data: the report per scope, GET /api/v1/savings and the page.

    .venv/bin/python bench/savings_advisor.py --project bench --runs 5

Server time in-process (Django test client; a throw-away superuser, deleted afterwards). The report
reads the rollups and a bounded sample (``sample_requests`` most recent requests per group, default
2000, for at most ``max_groups`` groups), never all raw calls of the period; the figure to watch is
how it grows with the sample, not with the period's calls.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _django import setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--samples", default="500,1000,2000", help="sample_requests values to time")
    args = parser.parse_args()
    setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from costwatch.projects.models import Project
    from costwatch.savings.opportunities import Thresholds
    from costwatch.savings.services import period_for, savings_report
    from costwatch.usage.models import LlmCall

    settings.ALLOWED_HOSTS = ["*"]
    project = Project.objects.get(slug=args.project)
    period = period_for(project, "30d")
    calls = LlmCall.objects.filter(project=project, started_at__gte=period.start, started_at__lt=period.end).count()
    print(f"project={project.slug} calls in the last 30 days={calls:,}")

    def timed(label: str, fn) -> None:  # noqa: ANN001
        fn()  # warm-up
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            result = fn()
            times.append((time.perf_counter() - began) * 1000)
        print(f"{label:<58} p50 {statistics.median(times):8.0f} ms   max {max(times):8.0f} ms   {result}")

    for sample in (int(s) for s in args.samples.split(",")):
        thresholds = Thresholds(sample_requests=sample)
        for scope in ("feature", "endpoint"):
            timed(
                f"savings_report scope={scope} sample_requests={sample}",
                lambda scope=scope, thresholds=thresholds: (
                    lambda r: f"{r.groups} groups, {len(r.opportunities)} findings"
                )(savings_report(project, period=period, scope=scope, thresholds=thresholds)),
            )
    from costwatch.projects.models import ApiKey
    from costwatch.projects.services import issue_key

    key = issue_key(project, "read")
    user = get_user_model().objects.create_superuser("bench-savings", password="x")
    try:
        api = Client(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
        timed("GET /api/v1/savings (default thresholds)", lambda: api.get("/api/v1/savings").status_code)
        client = Client()
        client.force_login(user)
        timed("Savings page", lambda: client.get(f"/p/{project.slug}/savings/").status_code)
    finally:
        user.delete()
        ApiKey.objects.filter(pk=key.key.pk).delete()


if __name__ == "__main__":
    main()
