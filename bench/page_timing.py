"""Server time of the web app's pages over a project's data (in-process Django test Client: no network,
no browser; the figure is what the server spends, template rendering included).

    .venv/bin/python bench/page_timing.py --project bench --runs 10

Signs in as a throw-away superuser (deleted afterwards), picks the project's biggest user, feature,
endpoint and model and a recent request, and times each page and each fragment a page loads after
it shows (a group's split by other dimensions). The target is 200 ms per page.
"""

from __future__ import annotations

import argparse
import statistics
import time
from urllib.parse import quote

from _django import setup

TARGET_MS = 200.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="bench", help="slug of the project to time the pages against")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per page (after one warm-up)")
    args = parser.parse_args()
    setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from costwatch.projects.models import Project
    from costwatch.usage.models import LlmCall, RequestRollup
    from costwatch.usage.queries import cost_rows, order_rows, period_of

    settings.ALLOWED_HOSTS = ["*"]
    project = Project.objects.get(slug=args.project)
    period = period_of(project, None, None)
    top = {
        dim: (order_rows(cost_rows(project, dim, period), "-cost_usd") or [None])[0]
        for dim in ("user", "feature", "endpoint", "model")
    }
    request = RequestRollup.objects.filter(project=project).order_by("-first_at").first()
    calls = LlmCall.objects.filter(project=project).count()
    base = f"/p/{project.slug}"
    pages = {
        "overview (this month)": f"{base}/",
        "users (this month)": f"{base}/users/",
        "users, search 'user-1'": f"{base}/users/?q=user-1",
        "users CSV export": f"{base}/users/?format=csv",
        "features": f"{base}/features/",
        "endpoints": f"{base}/endpoints/",
        "models": f"{base}/models/",
        "pricing": f"{base}/pricing/",
        "alerts": f"{base}/alerts/",
        "settings: keys": f"{base}/settings/keys/",
    }
    splits = {
        "user": ("feature", "model"),
        "feature": ("model", "user"),
        "endpoint": ("feature", "model"),
        "model": ("feature", "user"),
    }  # as frontend.services.BREAKDOWNS
    for dim, row in top.items():
        if row is not None:
            pages[f"{dim} page (top {dim}, this month)"] = f"{base}/{dim}s/detail/?key={quote(row.key)}"
            for other in splits[dim]:
                # Loaded by the page after it shows (htmx): timed on their own.
                pages[f"  + {dim} split by {other}"] = (
                    f"{base}/{dim}s/detail/breakdown/?key={quote(row.key)}&by={other}"
                )
    if request is not None:
        pages["request page"] = f"{base}/requests/{request.trace_id}/"

    users = get_user_model()
    person = users.objects.create_superuser(f"page-timing-{time.time_ns()}", password=None)
    client = Client()
    client.force_login(person)
    print(
        f"project={project.slug} calls={calls:,} period={period.start:%Y-%m-%d}..{period.end:%Y-%m-%d} runs={args.runs}"
    )
    slow = []
    try:
        for label, url in pages.items():
            response = client.get(url)  # warm-up: connection, template loading, PostgreSQL caches
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            timings = []
            for _ in range(args.runs):
                began = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            timings.sort()
            p50, worst = statistics.median(timings), timings[-1]
            if p50 > TARGET_MS:
                slow.append(label)
            print(f"{label:42s} p50={p50:8.1f} ms  max={worst:8.1f} ms  {'OVER 200 ms' if p50 > TARGET_MS else ''}")
    finally:
        person.delete()
    print(
        f"{len(pages) - len(slow)} of {len(pages)} pages under {TARGET_MS:.0f} ms at p50"
        + (f"; over: {', '.join(slow)}" if slow else "")
    )


if __name__ == "__main__":
    main()
