"""Rollups kept by difference (issue 14): each run recomputes only the marked traces' parts and adds
(new parts - replaced parts) to the hours and days. Whatever the order of exports, re-sends, late
root spans and runs in between, the result equals a rebuild from raw calls; a run touches only the
traces it claimed; and ingest never waits for a run holding its transaction open.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection, transaction
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from costwatch.projects.models import Project
from costwatch.projects.services import create_project, issue_key
from costwatch.usage.dimensions import save_dimension
from costwatch.usage.models import DirtyTrace, RequestRollup, RollupDay, RollupHour, RollupPart
from costwatch.usage.rollups import claim_sql, rebuild_project, recompute_dirty, recompute_traces
from tests.otlp_client import post_spans

NOW = datetime.now(timezone.utc)
MODELS = ("gpt-4o", "gpt-4o-mini", "mystery-model-x")


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


class Traces:
    """Real SDK spans with chosen times: a SERVER root (route, user, tenant) and LLM children."""

    def __init__(self, tenant_on_resource: str | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        resource = {"service.name": "shop"} | ({"app.tenant": tenant_on_resource} if tenant_on_resource else {})
        self.provider = TracerProvider(resource=Resource.create(resource))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def trace(self, rng: random.Random, at: datetime) -> tuple[ReadableSpan, list[ReadableSpan]]:
        """One trace: its root span and its calls (some nested: an agent span wrapping the SDK's)."""
        root_attributes = {"http.route": rng.choice(["/chat", "/search"]), "enduser.id": rng.choice(["u1", "u2", ""])}
        if rng.random() < 0.5:
            root_attributes["app.tenant"] = rng.choice(["acme", "globex"])
        before = len(self.exporter.get_finished_spans())
        root = self.tracer.start_span("POST", kind=SpanKind.SERVER, attributes=root_attributes, start_time=_ns(at))
        context = otel_trace.set_span_in_context(root)
        for index in range(rng.randint(1, 4)):
            start = at + timedelta(minutes=rng.randint(0, 90))  # calls may cross into the next hour
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": rng.choice(MODELS),
                "gen_ai.usage.input_tokens": rng.randint(1, 5000),
                "gen_ai.usage.output_tokens": rng.randint(0, 500),
            }
            if rng.random() < 0.3:
                attributes["app.feature"] = rng.choice(["summary", "draft"])
            if rng.random() < 0.2:
                attributes["gen_ai.response.id"] = f"r-{index % 2}"  # same id in a trace: one call
            call = self.tracer.start_span(
                "chat", context=context, kind=SpanKind.CLIENT, attributes=attributes, start_time=_ns(start)
            )
            call.end(end_time=_ns(start + timedelta(seconds=2)))
        root.end(end_time=_ns(at + timedelta(minutes=95)))
        spans = list(self.exporter.get_finished_spans())[before:]
        return spans[-1], spans[:-1]


def _state(project: Project) -> dict:
    metrics = ("cost", "savings", "input_tokens", "output_tokens", "llm_calls", "requests", "priced_calls")
    return {
        "hours": {
            (r["dimension"], r["key"], r["hour"]): tuple(r[m] for m in metrics)
            for r in RollupHour.objects.filter(project=project).values()
        },
        "days": {
            (r["dimension"], r["key"], r["day"]): tuple(r[m] for m in metrics)
            for r in RollupDay.objects.filter(project=project).values()
        },
        "requests": {
            r["trace_id"]: (r["cost"], r["llm_calls"], r["user"], r["endpoint"], r["dimensions"])
            for r in RequestRollup.objects.filter(project=project).values()
        },
    }


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_kept_by_difference_equal_a_rebuild_from_raw_calls(default_catalog, seed: int) -> None:
    rng = random.Random(seed)
    projects = []
    for slug, tz in ((f"inc-utc-{seed}", "UTC"), (f"inc-kolkata-{seed}", "Asia/Kolkata")):
        project = create_project(slug, name=slug, timezone_name=tz)
        save_dimension(project, name="tenant", attribute_keys=["app.tenant"], max_values_per_day=1)
        projects.append((project, issue_key(project, "ingest").secret))
    traces = Traces(tenant_on_resource="acme" if seed == 2 else None)
    pending: list[tuple[str, list[ReadableSpan]]] = []
    late_roots: list[tuple[str, ReadableSpan]] = []
    for _ in range(12):
        project, key = rng.choice(projects)
        root, calls = traces.trace(rng, NOW - timedelta(hours=rng.randint(2, 30), minutes=rng.randint(0, 59)))
        if rng.random() < 0.4:
            late_roots.append((key, root))  # the root arrives later, after rollups ran
            pending.append((key, calls))
        else:
            pending.append((key, [root, *calls]))
    rng.shuffle(pending)
    for key, spans in pending:
        cut = rng.randint(0, len(spans))
        for part in (spans[:cut], spans[cut:]):
            if part:
                post_spans(key, part)
        if rng.random() < 0.3:
            post_spans(key, spans)  # re-sent whole
        if rng.random() < 0.5:
            recompute_dirty()
    recompute_dirty()
    for key, root in late_roots:
        post_spans(key, [root])
        if rng.random() < 0.5:
            recompute_dirty()
    recompute_dirty()
    assert not DirtyTrace.objects.exists()
    for project, _ in projects:
        kept = _state(project)
        assert all(row[4] > 0 for row in kept["hours"].values())  # no group left without calls
        rebuild_project(project.pk)
        assert _state(project) == kept, project.slug
    assert any(_state(p)["hours"] for p, _ in projects)


@pytest.mark.django_db
def test_a_run_replaces_only_the_parts_of_the_traces_it_claimed(default_catalog, acme, acme_ingest_key) -> None:
    rng = random.Random(7)
    traces = Traces()
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    for _ in range(30):
        root, calls = traces.trace(rng, hour + timedelta(minutes=rng.randint(0, 20)))
        post_spans(acme_ingest_key, [root, *calls])
    recompute_dirty()
    before = set(RollupPart.objects.filter(project=acme).values_list("id", "trace_id"))
    total = RollupHour.objects.get(project=acme, dimension="total", key="", hour=hour)

    root, calls = traces.trace(rng, hour + timedelta(minutes=5))
    post_spans(acme_ingest_key, [root, *calls])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_dirtytrace WHERE project_id = %s", [acme.pk])
        assert cursor.fetchone()[0] == 1
    recompute_dirty()

    after = set(RollupPart.objects.filter(project=acme).values_list("id", "trace_id"))
    assert before <= after  # every other trace's parts are the same rows, untouched
    new_trace = format(root.context.trace_id, "032x")
    assert {trace for _, trace in after - before} == {new_trace}
    grown = RollupHour.objects.get(project=acme, dimension="total", key="", hour=hour)
    in_hour = [c for c in calls if c.start_time < _ns(hour + timedelta(hours=1))]
    assert grown.llm_calls == total.llm_calls + len(in_hour) - _same_response(in_hour)
    assert grown.requests == total.requests + 1


def _same_response(calls: list[ReadableSpan]) -> int:
    """Calls that repeat a response id already seen in the list (counted once)."""
    ids = [c.attributes.get("gen_ai.response.id") for c in calls if c.attributes.get("gen_ai.response.id")]
    return len(ids) - len(set(ids))


@pytest.mark.django_db(transaction=True)
def test_an_export_is_accepted_while_a_rollup_run_holds_its_transaction(
    live_server, default_catalog, acme, acme_ingest_key
) -> None:
    rng = random.Random(3)
    traces = Traces()
    root, calls = traces.trace(rng, NOW - timedelta(hours=2))
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {acme_ingest_key}"}, timeout=10
    )
    assert exporter.export(calls) == SpanExportResult.SUCCESS

    claimed = threading.Event()
    release = threading.Event()
    failure: list[BaseException] = []

    def rollup_run_held_open() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(claim_sql("usage_dirtytrace", "id", "claimed.trace_id"), {"limit": 1000})
                recompute_traces(acme.pk, [row[0] for row in cursor.fetchall()])
                claimed.set()
                release.wait(30)  # the run's transaction stays open, its rows locked
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            failure.append(exc)
            claimed.set()
        finally:
            connection.close()

    runner = threading.Thread(target=rollup_run_held_open)
    runner.start()
    try:
        assert claimed.wait(30) and not failure, failure
        # The late root of the trace being recomputed, and a new trace: both answered while the
        # run still holds its transaction (had ingest waited for it, the export would time out).
        other_root, other_calls = traces.trace(rng, NOW - timedelta(hours=1))
        assert exporter.export([root, other_root, *other_calls]) == SpanExportResult.SUCCESS
        assert not release.is_set() and runner.is_alive()
    finally:
        release.set()
        runner.join(30)
    assert not failure, failure
    recompute_dirty()
    assert not DirtyTrace.objects.exists()
    rows = RequestRollup.objects.filter(project=acme)
    assert rows.count() == 2 and {r.endpoint for r in rows} == {
        root.attributes["http.route"],
        other_root.attributes["http.route"],
    }
