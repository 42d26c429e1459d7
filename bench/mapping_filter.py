"""The pure-Python half of ingest, protobuf bytes to priced calls, in one process on one core.

    createdb -h 127.0.0.1 -U postgres mappingbench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mappingbench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mappingbench .venv/bin/python bench/mapping_filter.py

Two measurements, CPU time of this process (``time.process_time``), best of ``--rounds``:

- **plain**: exports of mostly plain spans, as an app that points its whole OpenTelemetry pipeline
  at Costwatch sends them: per trace one SERVER root, then HTTP-client, database, queue and cache
  children, one child in ``--llm-every`` a priced GenAI chat span. Timed: ``ParseFromString`` and
  ``ingest.mapping.map_export``. Prints spans/s per core and what would be stored.
- **llm**: exports of ``--llm-traces`` traces, each a SERVER root (``http.route``, ``enduser.id``,
  ``costwatch.feature``) and three priced OTel GenAI ``chat`` children (512 spans by default).
  Timed: ``ParseFromString``, ``map_export`` with ingest's arguments, ``reject_invalid_spans`` and
  pricing every call as ``ingest.services`` does (a ``PriceBook`` per export; its one version query
  is included). Prints ms per export. Needs the database (a project ``mapping-bench`` is created).

``--profile`` prints the cProfile of one more llm round, hottest functions first.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections.abc import Callable

from _django import setup


def _kv(key: str, value: object):  # noqa: ANN202 - a KeyValue
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _resource(request):  # noqa: ANN001, ANN202 - ExportTraceServiceRequest -> ScopeSpans
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [
            _kv("service.name", "shop-api"),
            _kv("deployment.environment", "bench"),
            _kv("telemetry.sdk.language", "python"),
            _kv("telemetry.sdk.name", "opentelemetry"),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "opentelemetry.instrumentation.django"
    return scope_spans


PLAIN = [
    (
        "GET",
        3,
        {
            "http.request.method": "GET",
            "url.full": "https://inventory.internal/items/42",
            "server.address": "inventory.internal",
            "server.port": 443,
            "http.response.status_code": 200,
        },
    ),
    (
        "SELECT orders",
        3,
        {
            "db.system": "postgresql",
            "db.namespace": "shop",
            "db.query.text": "SELECT * FROM orders WHERE id = $1",
            "db.operation.name": "SELECT",
            "server.address": "db",
            "server.port": 5432,
        },
    ),
    (
        "orders publish",
        4,
        {"messaging.system": "rabbitmq", "messaging.operation.type": "publish", "messaging.destination.name": "orders"},
    ),
    ("redis GET", 3, {"db.system": "redis", "db.operation.name": "GET", "server.address": "cache"}),
]


def chat_attributes(n: int) -> dict[str, object]:
    """What opentelemetry-instrumentation-openai-v2 puts on a chat span (usage reported)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{n}",
        "gen_ai.response.finish_reasons": "stop",
        "gen_ai.usage.input_tokens": 900 + n % 100,
        "gen_ai.usage.output_tokens": 120 + n % 50,
        "server.address": "api.openai.com",
        "server.port": 443,
    }


def _root(scope_spans, n: int, start_ns: int, route: str, duration_ns: int, feature: str | None = None):  # noqa: ANN001, ANN202
    """Add trace ``n``'s SERVER root (route, method, status, user, and ``feature`` when given);
    returns (trace id, root span id, start in Unix ns)."""
    trace_id, root_id, start = n.to_bytes(16, "big"), (n * 1000).to_bytes(8, "big"), start_ns + n * 1_000_000
    root = scope_spans.spans.add(
        trace_id=trace_id,
        span_id=root_id,
        name=f"POST {route}",
        kind=2,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
    )
    root.attributes.extend(
        [
            _kv("http.route", route),
            _kv("http.request.method", "POST"),
            _kv("http.response.status_code", 200),
            _kv("enduser.id", f"user-{n % 500}"),
            *([_kv("costwatch.feature", feature)] if feature else []),
        ]
    )
    return trace_id, root_id, start


def plain_exports(count: int, spans: int, children: int, llm_every: int, start_ns: int) -> list[bytes]:
    """Serialized exports of ``spans`` spans: SERVER roots with ``children`` children each, one
    child in ``llm_every`` a chat span, the others plain (``PLAIN`` in turn)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    out = []
    n = 0
    for _ in range(count):
        request = ExportTraceServiceRequest()
        scope_spans = _resource(request)
        made = 0
        while made < spans:
            n += 1
            trace_id, root_id, start = _root(scope_spans, n, start_ns, "/api/checkout", 50_000_000)
            made += 1
            for c in range(min(children, spans - made)):
                name, kind, attributes = PLAIN[c % len(PLAIN)]
                if (made + c) % llm_every == 0:
                    name, kind, attributes = "chat gpt-4o-mini", 3, chat_attributes(n)
                span = scope_spans.spans.add(
                    trace_id=trace_id,
                    span_id=(n * 1000 + c + 1).to_bytes(8, "big"),
                    parent_span_id=root_id,
                    name=name,
                    kind=kind,
                    start_time_unix_nano=start + c * 1000,
                    end_time_unix_nano=start + c * 1000 + 900,
                )
                span.attributes.extend(_kv(k, v) for k, v in attributes.items())
            made += min(children, spans - made)
        out.append(request.SerializeToString())
    return out


def llm_exports(count: int, traces: int, calls: int, start_ns: int) -> list[bytes]:
    """Serialized exports of ``traces`` traces: a SERVER root with route, user and feature, and
    ``calls`` priced chat children."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    out = []
    n = 0
    for _ in range(count):
        request = ExportTraceServiceRequest()
        scope_spans = _resource(request)
        for _ in range(traces):
            n += 1
            trace_id, root_id, start = _root(
                scope_spans, n, start_ns, "/api/summarize", 900_000_000, feature=("summaries", "search", "chat")[n % 3]
            )
            for c in range(calls):
                span = scope_spans.spans.add(
                    trace_id=trace_id,
                    span_id=(n * 1000 + c + 1).to_bytes(8, "big"),
                    parent_span_id=root_id,
                    name="chat gpt-4o-mini",
                    kind=3,
                    start_time_unix_nano=start + c * 200_000_000,
                    end_time_unix_nano=start + c * 200_000_000 + 150_000_000,
                )
                span.attributes.extend(_kv(k, v) for k, v in chat_attributes(n * 10 + c).items())
        out.append(request.SerializeToString())
    return out


def best_cpu(rounds: int, run: Callable[[], object]) -> tuple[float, object]:
    """The least CPU time of ``rounds`` runs of ``run``, and the last run's result."""
    best, result = float("inf"), None
    for _ in range(rounds):
        began = time.process_time()
        result = run()
        best = min(best, time.process_time() - began)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", type=int, default=30, help="exports per round (each case)")
    parser.add_argument("--spans", type=int, default=512, help="plain: spans per export")
    parser.add_argument("--children", type=int, default=15, help="plain: children per SERVER root")
    parser.add_argument("--llm-every", type=int, default=50, help="plain: one child in this many is a chat span")
    parser.add_argument("--llm-traces", type=int, default=128, help="llm: traces per export")
    parser.add_argument("--llm-calls", type=int, default=3, help="llm: chat spans per trace")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=("plain", "llm"), help="run one of the two measurements")
    parser.add_argument("--profile", action="store_true", help="print the cProfile of one llm round")
    args = parser.parse_args()
    setup()
    from django.conf import settings
    from django.utils import timezone
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from costwatch.pricing.pricebook import PriceBook
    from costwatch.projects.models import Project
    from costwatch.usage.costing import catalog_tier
    from ingest.mapping import map_export
    from ingest.validation import configured_window, reject_invalid_spans

    start_ns = time.time_ns() - 3_600_000_000_000  # an hour ago: inside the accepted window
    print(f"one process; cpus on the machine={os.cpu_count()}; CPU time, best of {args.rounds} rounds")

    if args.only in (None, "plain"):
        exports = plain_exports(args.exports, args.spans, args.children, args.llm_every, start_ns)

        def plain_round() -> tuple[int, int]:
            calls = rows = 0
            for raw in exports:
                request = ExportTraceServiceRequest()
                request.ParseFromString(raw)
                mapped = map_export(request)
                calls += len(mapped.calls)
                rows += len(mapped.attributions)
            return calls, rows

        cpu, (calls, rows) = best_cpu(args.rounds, plain_round)
        total = args.exports * args.spans
        print(
            f"plain: {args.exports} exports x {args.spans} spans ({args.children} children per SERVER root, "
            f"1 chat span in {args.llm_every}): {total / cpu:,.0f} spans/s per core "
            f"({cpu * 1000 / args.exports:.2f} ms per export); kept {calls} calls and {rows} attribution rows"
        )

    if args.only in (None, "llm"):
        project, _ = Project.objects.get_or_create(slug="mapping-bench", defaults={"name": "mapping bench"})
        exports = llm_exports(args.exports, args.llm_traces, args.llm_calls, start_ns)
        feature_keys = ("costwatch.feature", "app.feature", *settings.COSTWATCH_FEATURE_ATTRIBUTES)
        user_keys = tuple(settings.COSTWATCH_USER_ATTRIBUTES)
        keep_attributes = settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS > 0
        window = configured_window()

        def llm_round() -> tuple[int, int, int]:
            calls = rows = priced = 0
            for raw in exports:
                request = ExportTraceServiceRequest()
                request.ParseFromString(raw)
                mapped = map_export(
                    request, feature_keys=feature_keys, user_keys=user_keys, keep_attributes=keep_attributes
                )
                mapped = reject_invalid_spans(mapped, window, timezone.now())
                book = PriceBook(project)
                for call in mapped.calls:
                    found = book.price_for_call(
                        call.model,
                        call.request_model,
                        call.start,
                        provider=call.provider,
                        service_tier=catalog_tier(call.service_tier),
                    )
                    priced += found is not None
                calls += len(mapped.calls)
                rows += len(mapped.attributions)
            return calls, rows, priced

        cpu, (calls, rows, priced) = best_cpu(args.rounds, llm_round)
        spans = args.llm_traces * (1 + args.llm_calls)
        print(
            f"llm: {args.exports} exports x {spans} spans ({args.llm_traces} SERVER roots x {args.llm_calls} "
            f"chat calls): {cpu * 1000 / args.exports:.2f} ms per export ({args.exports * spans / cpu:,.0f} spans/s "
            f"per core); {calls} calls ({priced} priced) and {rows} attribution rows"
        )
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(llm_round)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
