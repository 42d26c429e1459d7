"""Custom dimensions through the front door: spans with a tenant and an A/B variant on spans and on
resources, POSTed to /v1/traces in split exports in random order, rolled up by the real rollup code,
read back through the cost API (issue "Cost by any dimension the team cares about")."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from costwatch.pricing.models import ModelPrice
from costwatch.projects.models import Role
from costwatch.projects.services import set_member
from costwatch.usage.dimensions import backfill_dimension, purge_span_attributes
from costwatch.usage.models import CustomDimension, DimensionOverflow, RollupHour, SpanAttribution
from costwatch.usage.rollups import recompute_dirty
from tests.usage.test_accounting import _get, _nanos, _post, _project

pytestmark = pytest.mark.django_db
UTC = timezone.utc
D = Decimal
# gpt-4o at $2.50 / $10 per million input / output tokens (the fixture below)
IN, OUT = D("2.5") / 10**6, D("10") / 10**6


@pytest.fixture(autouse=True)
def prices(db):  # noqa: ANN001, ANN201
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o",
        input=D("2.5"),
        output=D("10"),
        cache_read=D("1.25"),
        effective_from=date(2024, 10, 1),
        origin="manual",
    )


def _attr(key: str, value: str | int) -> dict:
    return {"key": key, "value": {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}}


def _span(
    trace: str,
    span: str,
    at: datetime,
    *,
    parent: str | None = None,
    attrs: dict | None = None,
    chat: tuple[int, int] | None = None,
    error: bool = False,
    kind: int = 1,
    name: str = "step",
) -> dict:
    attributes = [_attr(k, v) for k, v in (attrs or {}).items()]
    if chat is not None:
        attributes += [
            _attr("gen_ai.operation.name", "chat"),
            _attr("gen_ai.provider.name", "openai"),
            _attr("gen_ai.request.model", "gpt-4o"),
            _attr("gen_ai.usage.input_tokens", chat[0]),
            _attr("gen_ai.usage.output_tokens", chat[1]),
        ]
        name, kind = "chat gpt-4o", 3
    body = {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": _nanos(at),
        "endTimeUnixNano": _nanos(at + timedelta(seconds=2 if chat is None else 1)),
        "attributes": attributes,
    }
    if parent:
        body["parentSpanId"] = parent
    if error:
        body["status"] = {"code": 2}
    return body


def _export(groups: list[tuple[dict, list[dict]]]) -> bytes:
    """One export: (resource attributes, spans) per resource."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [_attr(k, v) for k, v in resource.items()]},
                    "scopeSpans": [{"scope": {"name": "qa"}, "spans": spans}],
                }
                for resource, spans in groups
            ]
        }
    ).encode()


def _admin_client(project) -> APIClient:  # noqa: ANN001
    user = get_user_model().objects.create_user(f"admin-{project.slug}", password="x" * 12)
    set_member(project, user, Role.ADMIN)
    client = APIClient()
    client.force_login(user)
    return client


def _add_dimension(client: APIClient, project, name: str, keys: list[str], **extra: object) -> dict:  # noqa: ANN001
    response = client.post(
        f"/api/v1/dimensions?project={project.slug}", {"name": name, "attribute_keys": keys, **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    backfill_dimension(CustomDimension.objects.get(project=project, name=name).pk)  # what the worker runs
    return response.json()


def _rolled_up() -> None:
    while recompute_dirty():
        pass


def _by_key(key: str, project, group_by: str, **params: str) -> dict[str, dict]:  # noqa: ANN001
    query = {"start": "2026-11-01", "end": "2026-11-30", "page_size": "1000", **params}
    body = _get(key, "/api/v1/costs", group_by=group_by, project=project.slug, **query)
    return {row["key"]: row for row in body["results"]}


class Traffic:
    """Requests of two services (the tenant on the resource for one, on the root span for the other)
    and two variants (on the root span), each a SERVER root with chat children, sent in random
    exports: children before their root, roots alone, spans of one trace across several exports."""

    def __init__(self, seed: int, start: datetime, requests: int = 24) -> None:
        rng = random.Random(seed)
        self.expected: dict[tuple[str, str], dict[str, D | int]] = defaultdict(
            lambda: {"cost": D(0), "calls": 0, "requests": 0, "errors": 0, "input": 0, "output": 0}
        )
        self.exports: list[bytes] = []
        pieces: list[tuple[dict, dict]] = []
        for i in range(requests):
            trace = f"{seed:08x}{i:024x}"
            root = f"{i + 1:016x}"
            tenant = rng.choice(["acme", "globex", "initech"])
            variant = rng.choice(["A", "B"])
            at = start + timedelta(minutes=rng.randrange(0, 180))
            on_resource = i % 2 == 0
            resource = {"service.name": "api", **({"app.tenant": tenant} if on_resource else {})}
            root_attrs = {
                "http.route": "/chat",
                "app.variant": variant,
                **({} if on_resource else {"app.tenant": tenant}),
            }
            pieces.append((resource, _span(trace, root, at, attrs=root_attrs, kind=2, name="POST /chat")))
            # A plain middle span (not stored) between the root and a chat call: the walk breaks there.
            middle = f"{i + 1:08x}{0:08x}"
            pieces.append(
                (resource, _span(trace, f"{i + 1:08x}{1:08x}", at, parent=middle, chat=(1000 * (i + 1), 100)))
            )
            calls = [(1000 * (i + 1), 100, False)]
            for j in range(rng.randrange(1, 4)):
                tokens, out, error = rng.randrange(100, 5000), rng.randrange(0, 500), rng.random() < 0.2
                pieces.append(
                    (
                        resource,
                        _span(
                            trace,
                            f"{i + 1:08x}{j + 2:08x}",
                            at + timedelta(seconds=j),
                            parent=root,
                            chat=(tokens, out),
                            error=error,
                        ),
                    )
                )
                calls.append((tokens, out, error))
            for tenant_or_variant in (("tenant", tenant), ("variant", variant)):
                row = self.expected[tenant_or_variant]
                row["requests"] += 1
                for tokens, out, error in calls:
                    row["cost"] += tokens * IN + out * OUT
                    row["calls"] += 1
                    row["errors"] += int(error)
                    row["input"] += tokens
                    row["output"] += out
        rng.shuffle(pieces)
        while pieces:
            size = rng.randrange(1, 6)
            take, pieces = pieces[:size], pieces[size:]
            by_resource: dict[str, tuple[dict, list]] = {}
            for resource, span in take:
                by_resource.setdefault(json.dumps(resource, sort_keys=True), (resource, []))[1].append(span)
            self.exports.append(_export(list(by_resource.values())))

    def values(self, dimension: str) -> dict[str, dict]:
        return {value: row for (name, value), row in self.expected.items() if name == dimension}


def _assert_matches(rows: dict[str, dict], expected: dict[str, dict]) -> None:
    assert set(rows) == set(expected)
    for value, want in expected.items():
        row = rows[value]
        assert D(row["cost_usd"]) == want["cost"], value
        assert (row["llm_calls"], row["requests"], row["errors"]) == (want["calls"], want["requests"], want["errors"])
        assert (row["input_tokens"], row["output_tokens"]) == (want["input"], want["output"])
        assert row["cost_complete"] is True


def test_per_dimension_totals_equal_the_sums_of_their_calls_in_split_exports() -> None:
    project, ingest, read = _project("dims")
    admin = _admin_client(project)
    _add_dimension(admin, project, "tenant", ["app.tenant", "tenant.id"])
    _add_dimension(admin, project, "variant", ["app.variant"])
    traffic = Traffic(7, datetime(2026, 11, 20, 9, tzinfo=UTC))
    for body in traffic.exports:
        _post(ingest, body)
    _rolled_up()
    tenants = _by_key(read, project, "tenant")
    _assert_matches(tenants, traffic.values("tenant"))
    _assert_matches(_by_key(read, project, "variant"), traffic.values("variant"))
    total = sum(D(r["cost_usd"]) for r in _by_key(read, project, "day").values())
    assert sum(D(r["cost_usd"]) for r in tenants.values()) == total
    # The same numbers through a filter (raw calls) and through the day rollups of part of the month.
    for tenant, want in traffic.values("tenant").items():
        by_variant = _by_key(read, project, "variant", tenant=tenant)
        assert sum(D(r["cost_usd"]) for r in by_variant.values()) == want["cost"]
        assert sum(r["llm_calls"] for r in by_variant.values()) == want["calls"]
    by_day = _by_key(read, project, "tenant", start="2026-11-20", end="2026-11-20")
    assert {k: D(r["cost_usd"]) for k, r in by_day.items()} == {
        k: w["cost"] for k, w in traffic.values("tenant").items()
    }


def test_a_dimension_added_later_is_backfilled_from_the_kept_attributes() -> None:
    project, ingest, read = _project("later")
    traffic = Traffic(11, datetime(2026, 11, 21, 14, tzinfo=UTC))
    for body in traffic.exports:
        _post(ingest, body)
    _rolled_up()
    assert SpanAttribution.objects.filter(project=project, attributes__isnull=False).exists()
    admin = _admin_client(project)
    created = _add_dimension(admin, project, "tenant", ["app.tenant"])
    assert created["group_by"] == "tenant"
    _rolled_up()
    _assert_matches(_by_key(read, project, "tenant"), traffic.values("tenant"))
    listed = admin.get(f"/api/v1/dimensions?project={project.slug}").json()["results"]
    assert [(d["name"], d["backfill_pending"]) for d in listed] == [("tenant", False)]
    # Changing the keys re-reads them: no span carries nope.tenant, so every call is "(not set)".
    changed = admin.patch(
        f"/api/v1/dimensions/tenant?project={project.slug}", {"attribute_keys": ["nope.tenant"]}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["backfill_pending"] is True
    backfill_dimension(CustomDimension.objects.get(project=project).pk)
    _rolled_up()
    rows = _by_key(read, project, "tenant")
    assert list(rows) == [""]
    assert rows[""]["llm_calls"] == sum(w["calls"] for w in traffic.values("tenant").values())


def test_attributes_past_the_window_are_purged_and_dimension_values_stay(settings) -> None:  # noqa: ANN001
    project, ingest, read = _project("purge")
    admin = _admin_client(project)
    _add_dimension(admin, project, "tenant", ["app.tenant"])
    traffic = Traffic(5, datetime(2026, 11, 10, 9, tzinfo=UTC), requests=6)
    for body in traffic.exports:
        _post(ingest, body)
    settings.COSTWATCH_SPAN_ATTRIBUTES_DAYS = 5
    purged = purge_span_attributes(now=datetime(2026, 11, 30, tzinfo=UTC), batch=7)
    assert purged == SpanAttribution.objects.filter(project=project).count() > 7
    assert not SpanAttribution.objects.filter(project=project, attributes__isnull=False).exists()
    backfill_dimension(CustomDimension.objects.get(project=project).pk)  # nothing left to re-read: values stay
    _rolled_up()
    _assert_matches(_by_key(read, project, "tenant"), traffic.values("tenant"))


def test_the_cardinality_guard_groups_values_past_the_daily_limit_under_other() -> None:
    project, ingest, read = _project("guard")
    admin = _admin_client(project)
    _add_dimension(admin, project, "tenant", ["app.tenant"], max_values_per_day=3)
    start = datetime(2026, 11, 22, 8, tzinfo=UTC)
    spans = [
        _span(
            f"{i + 1:032x}",
            f"{i + 1:016x}",
            start + timedelta(minutes=i),
            chat=(1000, 10),
            attrs={"app.tenant": f"t{i:02d}"},
        )
        for i in range(8)
    ]
    spans += [
        _span(
            f"{100 + i:032x}",
            f"{100 + i:016x}",
            start + timedelta(days=1, minutes=i),
            chat=(1000, 10),
            attrs={"app.tenant": f"t{7 - i:02d}"},
        )
        for i in range(2)
    ]
    random.Random(3).shuffle(spans)
    for i in range(0, len(spans), 3):
        _post(ingest, _export([({}, spans[i : i + 3])]))
    _rolled_up()
    per_call = 1000 * IN + 10 * OUT
    body = _get(read, "/api/v1/costs", group_by="tenant", start="2026-11-22", end="2026-11-23", project=project.slug)
    rows = {row["key"]: row for row in body["results"]}
    # Day one: the first three tenants met (by call time) are kept, five go to (other); day two has room.
    assert {k: r["llm_calls"] for k, r in rows.items()} == {
        "t00": 1,
        "t01": 1,
        "t02": 1,
        "(other)": 5,
        "t07": 1,
        "t06": 1,
    }
    assert D(rows["(other)"]["cost_usd"]) == 5 * per_call
    assert sum(D(r["cost_usd"]) for r in rows.values()) == 10 * per_call
    assert len(body["warnings"]) == 1 and "2026-11-22" in body["warnings"][0] and "(other)" in body["warnings"][0]
    assert DimensionOverflow.objects.filter(day=date(2026, 11, 22)).count() == 1
    assert RollupHour.objects.filter(project=project, key="(other)").exists()
    # Raw reads (a filter) group the same way, and (other) is a value one can filter by.
    filtered = _get(
        read,
        "/api/v1/costs",
        group_by="tenant",
        model="gpt-4o",
        start="2026-11-22",
        end="2026-11-23",
        project=project.slug,
    )
    assert {r["key"]: r["llm_calls"] for r in filtered["results"]} == {k: r["llm_calls"] for k, r in rows.items()}
    other = _get(
        read,
        "/api/v1/costs",
        group_by="day",
        tenant="(other)",
        start="2026-11-22",
        end="2026-11-23",
        project=project.slug,
    )
    assert [(r["key"], r["llm_calls"]) for r in other["results"]] == [("2026-11-22", 5)]
    csv = APIClient()
    csv.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    exported = csv.get(
        "/api/v1/costs",
        {"group_by": "tenant", "format": "csv", "start": "2026-11-22", "end": "2026-11-23", "project": project.slug},
    )
    assert exported.status_code == 200 and "(other)" in exported.content.decode()
    assert "2026-11-22" in exported["X-Costwatch-Warning"]


def test_the_comparison_shows_the_right_per_request_numbers() -> None:
    project, ingest, read = _project("ab")
    admin = _admin_client(project)
    _add_dimension(admin, project, "variant", ["app.variant"])
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    spans = []
    # Feature "answer": variant A has 2 requests of one call each (1000 in / 100 out, one failed),
    # variant B 1 request with two calls (400 in / 50 out each). Feature "other" must not count.
    plan = [
        ("A", "answer", [(1000, 100, False)]),
        ("A", "answer", [(1000, 100, True)]),
        ("B", "answer", [(400, 50, False), (400, 50, False)]),
        ("B", "other", [(9000, 900, False)]),
    ]
    for i, (variant, feature, calls) in enumerate(plan):
        trace, root = f"{i + 1:032x}", f"{i + 1:016x}"
        spans.append(
            _span(
                trace,
                root,
                start + timedelta(minutes=i),
                kind=2,
                name="POST /x",
                attrs={"app.variant": variant, "costwatch.feature": feature, "http.route": "/x"},
            )
        )
        for j, (tokens, out, error) in enumerate(calls):
            spans.append(
                _span(
                    trace,
                    f"{i + 1:08x}{j + 1:08x}",
                    start + timedelta(minutes=i, seconds=j),
                    parent=root,
                    chat=(tokens, out),
                    error=error,
                )
            )
    random.Random(1).shuffle(spans)
    _post(ingest, _export([({}, spans[:4])]))
    _post(ingest, _export([({}, spans[4:])]))
    _rolled_up()
    body = _get(
        read,
        "/api/v1/compare",
        dimension="variant",
        a="A",
        b="B",
        feature="answer",
        start="2026-11-23",
        end="2026-11-23",
        project=project.slug,
    )
    a, b = body["a"], body["b"]
    assert D(a["cost_per_request_usd"]) == 1000 * IN + 100 * OUT
    assert D(b["cost_per_request_usd"]) == 2 * (400 * IN + 50 * OUT)
    assert (a["tokens_per_request"], b["tokens_per_request"]) == (1100.0, 900.0)
    assert (a["calls_per_request"], b["calls_per_request"]) == (1.0, 2.0)
    assert (a["error_rate"], b["error_rate"]) == (0.5, 0.0)
    assert a["totals"]["requests"] == 2 and b["totals"]["llm_calls"] == 2
    assert (a["prompt_cache_hit_rate"], b["prompt_cache_hit_rate"]) == (0.0, 0.0)
    # Without a feature, B includes its "other" request.
    everything = _get(
        read,
        "/api/v1/compare",
        dimension="variant",
        a="A",
        b="B",
        start="2026-11-23",
        end="2026-11-23",
        project=project.slug,
    )
    assert everything["b"]["totals"]["requests"] == 2
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    refused = bad.get("/api/v1/compare", {"dimension": "nope", "a": "A", "b": "B", "project": project.slug})
    assert refused.status_code == 400 and "nope" in refused.json()["detail"]


def test_bad_dimensions_get_clear_errors_and_change_nothing() -> None:
    project, _, read = _project("bad")
    admin = _admin_client(project)
    _add_dimension(admin, project, "tenant", ["app.tenant"])
    url = f"/api/v1/dimensions?project={project.slug}"
    cases = [
        ({"name": "Tenant", "attribute_keys": ["x"]}, "name"),
        ({"name": "user", "attribute_keys": ["x"]}, "name"),
        ({"name": "tenant", "attribute_keys": ["x"]}, "name"),
        ({"name": "plan", "attribute_keys": []}, "attribute_keys"),
        ({"name": "plan", "attribute_keys": "app.plan"}, "attribute_keys"),
        ({"name": "plan", "attribute_keys": ["a", "a"]}, "attribute_keys"),
        ({"name": "plan", "attribute_keys": ["a"], "max_values_per_day": 0}, "max_values_per_day"),
        ({"name": "plan", "attribute_keys": ["a"], "max_values_per_day": 10**12}, "max_values_per_day"),
        ({"name": "plan", "attribute_keys": ["a" * 257]}, "attribute_keys"),
        ({"name": "x" * 33, "attribute_keys": ["a"]}, "name"),
        ({"name": "plan", "attribute_keys": ["a"], "colour": "red"}, "detail"),
        ({"attribute_keys": ["a"]}, "name"),
    ]
    for body, field in cases:
        response = admin.post(url, body, format="json")
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())
    assert list(CustomDimension.objects.filter(project=project).values_list("name", flat=True)) == ["tenant"]
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    assert reader.post(url, {"name": "plan", "attribute_keys": ["a"]}, format="json").status_code == 403
    assert reader.get(url).status_code == 200
    unknown = reader.get("/api/v1/costs", {"group_by": "plan", "project": project.slug})
    assert unknown.status_code == 400 and "tenant" in unknown.json()["detail"]
    assert admin.delete(f"/api/v1/dimensions/nope?project={project.slug}").status_code == 404
    assert admin.delete(f"/api/v1/dimensions/tenant?project={project.slug}").status_code == 204
    assert not CustomDimension.objects.filter(project=project).exists()


def test_a_request_shows_its_dimensions_and_each_call_its_resolved_values() -> None:
    project, ingest, read = _project("reqdims")
    admin = _admin_client(project)
    _add_dimension(admin, project, "tenant", ["app.tenant"])
    _add_dimension(admin, project, "env", ["deployment.environment"])
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)
    trace, root = "ab" * 16, "0a" * 8
    # The tenant on the root span (sent last, in its own export), the environment on the resource.
    _post(
        ingest,
        _export(
            [
                (
                    {"deployment.environment": "prod"},
                    [
                        _span(trace, "0b" * 8, at, parent=root, chat=(100, 10)),
                        _span(trace, "0c" * 8, at, parent="0d" * 8, chat=(200, 20)),
                    ],
                )
            ]
        ),
    )
    _post(ingest, _export([({}, [_span(trace, root, at, attrs={"app.tenant": "acme"}, kind=2, name="GET /")])]))
    _rolled_up()
    body = _get(read, f"/api/v1/requests/{trace}", project=project.slug)
    assert body["summary"]["dimensions"] == {"env": "prod", "tenant": "acme"}
    assert [c["dimensions"] for c in body["calls"]] == [{"env": "prod", "tenant": "acme"}] * 2


def test_a_dimension_value_too_long_to_keep_whole_rejects_its_span_with_a_message() -> None:
    project, ingest, read = _project("longdim")
    _add_dimension(_admin_client(project), project, "tenant", ["app.tenant"])
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)
    body = _post(
        ingest,
        _export(
            [
                (
                    {},
                    [
                        _span("cd" * 16, "01" * 8, at, chat=(100, 10), attrs={"app.tenant": "t" * 5000}),
                        _span("cd" * 16, "02" * 8, at, chat=(100, 10), attrs={"app.tenant": "ok"}),
                    ],
                )
            ]
        ),
    )
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert "custom dimension" in body["partialSuccess"]["errorMessage"]
    _rolled_up()
    assert {
        k: r["llm_calls"] for k, r in _by_key(read, project, "tenant", start="2026-11-24", end="2026-11-24").items()
    } == {"ok": 1}
