"""What custom dimensions cost: ingest time per export and the recompute of one busy hour, with no
dimension, then with two (a tenant on the resource with many values, a variant on the root span).

Sends traces (a SERVER root and 3 chat children) through the real ingest service into one hour of a
fresh project, then times ``recompute_bucket`` of that hour; adds the dimensions, backfills them
from the kept attributes, and times the recompute again.

    .venv/bin/python bench/dimension_rollups.py --traces 4000 --tenants 2000 --limit 1000
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from datetime import datetime, timedelta, timezone

from _django import setup


def _export(traces: int, tenants: int, hour: datetime):  # noqa: ANN202 - ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def attr(span, key: str, value: str | int) -> None:  # noqa: ANN001
        any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        span.attributes.append(KeyValue(key=key, value=any_value))

    request = ExportTraceServiceRequest()
    for _ in range(traces):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(
            KeyValue(key="app.tenant", value=AnyValue(string_value=f"tenant-{secrets.randbelow(tenants)}"))
        )
        scope = resource_spans.scope_spans.add()
        trace_id, root_id = secrets.token_bytes(16), secrets.token_bytes(8)
        start = int((hour + timedelta(seconds=secrets.randbelow(3500))).timestamp() * 10**9)
        root = scope.spans.add(
            trace_id=trace_id,
            span_id=root_id,
            name="POST /chat",
            kind=2,
            start_time_unix_nano=start,
            end_time_unix_nano=start + 10 * 10**9,
        )
        attr(root, "http.route", "/chat")
        attr(root, "app.variant", "AB"[secrets.randbelow(2)])
        for i in range(3):
            span = scope.spans.add(
                trace_id=trace_id,
                span_id=secrets.token_bytes(8),
                parent_span_id=root_id,
                name="chat gpt-4o-mini",
                kind=3,
                start_time_unix_nano=start + i * 10**9,
                end_time_unix_nano=start + (i + 1) * 10**9,
            )
            for key, value in (
                ("gen_ai.operation.name", "chat"),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.request.model", "gpt-4o-mini"),
                ("gen_ai.usage.input_tokens", 900),
                ("gen_ai.usage.output_tokens", 120),
                ("enduser.id", f"user-{secrets.randbelow(500)}"),
            ):
                attr(span, key, value)
    return request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=4000)
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=1000, help="the tenant dimension's values per day")
    parser.add_argument("--batch", type=int, default=100, help="traces per export")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup()
    from costwatch.projects.services import create_project
    from costwatch.usage.dimensions import backfill_dimension, save_dimension
    from costwatch.usage.models import DimensionOverflow, RollupHour
    from costwatch.usage.rollups import recompute_bucket
    from ingest.services import ingest_export

    project = create_project(f"dims-{secrets.token_hex(3)}")
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)

    def ingest(label: str) -> None:
        times = []
        for _ in range(args.traces // args.batch):
            request = _export(args.batch, args.tenants, hour)
            began = time.perf_counter()
            ingest_export(project, request)
            times.append(time.perf_counter() - began)
        spans = args.batch * 4
        print(
            f"{label}: {statistics.median(times) * 1000:.0f} ms median per export of {spans} spans "
            f"({spans / statistics.median(times):,.0f} spans/s in one process)"
        )

    def recompute(label: str) -> None:
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            recompute_bucket(project.pk, hour)
            times.append(time.perf_counter() - began)
        print(
            f"{label}: recompute of the hour ({args.traces * 3:,} calls) {min(times) * 1000:.0f} ms "
            f"(best of {args.repeat}), {RollupHour.objects.filter(project=project, hour=hour).count():,} rows"
        )

    from django.conf import settings

    kept = "attributes kept" if settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS else "attributes not kept"
    ingest(f"no dimension configured ({kept})")
    recompute("no dimension")
    tenant = save_dimension(project, name="tenant", attribute_keys=["app.tenant"], max_values_per_day=args.limit)
    variant = save_dimension(project, name="variant", attribute_keys=["app.variant"])
    began = time.perf_counter()
    for dimension in (tenant, variant):
        backfill_dimension(dimension.pk)
    print(f"backfill of both dimensions: {(time.perf_counter() - began) * 1000:.0f} ms")
    recompute("tenant + variant")
    print(
        f"tenant overflowed: {DimensionOverflow.objects.filter(dimension=tenant).exists()}; "
        f"(other) rows: {RollupHour.objects.filter(project=project, key='(other)').count()}"
    )
    ingest("two dimensions configured")


if __name__ == "__main__":
    main()
