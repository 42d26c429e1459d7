"""Numbers finance can trust, through the front door: exports POSTed to /v1/traces, rolled up by the
real rollup code on PostgreSQL, read back through the cost API (issue "Numbers finance can trust")."""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import SpanKind
from rest_framework.test import APIClient

from costwatch.pricing.models import ModelPrice
from costwatch.projects.models import Project
from costwatch.projects.services import create_project, issue_key
from costwatch.usage.models import DirtyBucket, DirtyDay, LlmCall, RollupDay, RollupHour
from costwatch.usage.rollups import _BUCKET_CLAIM, _DAY_CLAIM, recompute_dirty
from tests.alerts.conftest import receiver  # noqa: F401 - the real HTTP receiver fixture
from tests.ingest.conftest import SpanRecorder

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
UTC = timezone.utc
D = Decimal


@pytest.fixture
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
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input=D("0.15"),
        output=D("0.6"),
        cache_read=D("0.075"),
        effective_from=date(2024, 7, 18),
        origin="manual",
    )


def _project(slug: str, tz: str = "UTC") -> tuple[Project, str, str]:
    project = create_project(slug, name=slug, timezone_name=tz)
    return project, issue_key(project, "ingest").secret, issue_key(project, "read").secret


def _post(key: str, body: bytes, content_type: str = "application/json") -> dict:
    response = APIClient().post("/v1/traces", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    return json.loads(response.content) if content_type == "application/json" else {}


def _get(key: str, path: str, **params: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def _nanos(moment: datetime) -> str:
    return str(int(moment.timestamp()) * 10**9 + moment.microsecond * 1000)


def _chat_span(
    trace: str,
    span: str,
    at: datetime,
    *,
    model: str = "gpt-4o",
    input_tokens: int = 1000,
    output_tokens: int = 0,
    user: str | None = None,
    parent: str | None = None,
) -> dict:
    attributes = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": model}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(input_tokens)}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": str(output_tokens)}},
    ]
    if user is not None:
        attributes.append({"key": "enduser.id", "value": {"stringValue": user}})
    span_json = {
        "traceId": trace,
        "spanId": span,
        "name": f"chat {model}",
        "kind": 3,
        "startTimeUnixNano": _nanos(at),
        "endTimeUnixNano": _nanos(at + timedelta(seconds=1)),
        "attributes": attributes,
    }
    if parent:
        span_json["parentSpanId"] = parent
    return span_json


def _body(spans: list[dict]) -> bytes:
    return json.dumps(
        {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "qa"}, "spans": spans}]}]}
    ).encode()


# --- Claims take exactly what they mean to -------------------------------------------------------------


@pytest.mark.django_db
def test_the_dirty_day_case_claims_one_row_after_analyze_with_a_nested_loop_plan(acme, globex) -> None:
    days = [date(2026, 11, 24) + timedelta(days=i) for i in range(5)]
    DirtyDay.objects.bulk_create([DirtyDay(project=acme, day=d) for d in days])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_dirtyday")
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(_DAY_CLAIM, {"limit": 1})
        claimed = cursor.fetchall()
    assert claimed == [(acme.pk, days[0])]
    assert sorted(DirtyDay.objects.values_list("day", flat=True)) == days[1:]


@pytest.mark.django_db
def test_each_claim_takes_exactly_its_limit_with_many_rows_over_several_projects(acme, globex) -> None:
    third, _, _ = _project("third", "Asia/Kolkata")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    DirtyBucket.objects.bulk_create(
        [DirtyBucket(project=p, hour=start + timedelta(hours=i)) for p in (acme, globex, third) for i in range(700)]
    )
    DirtyDay.objects.bulk_create(
        [
            DirtyDay(project=p, day=date(2024, 1, 1) + timedelta(days=i))
            for p in (acme, globex, third)
            for i in range(700)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_dirtybucket")
        cursor.execute("ANALYZE usage_dirtyday")
        for plan in ("", "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"):
            if plan:
                cursor.execute(plan)
            for claim, limit in ((_BUCKET_CLAIM, 1), (_BUCKET_CLAIM, 7), (_DAY_CLAIM, 1), (_DAY_CLAIM, 5)):
                model = DirtyBucket if claim is _BUCKET_CLAIM else DirtyDay
                before = model.objects.count()
                cursor.execute(claim, {"limit": limit})
                assert len(cursor.fetchall()) == limit
                assert model.objects.count() == before - limit


@pytest.mark.django_db
def test_spend_sent_to_many_projects_and_days_at_once_lands_on_every_day(prices) -> None:
    """The "days lost" scenario: $4 on each of the last 7 days and $7 today, some at 22:30 local."""
    now = datetime.now(UTC)
    projects = [_project("ny", "America/New_York"), _project("kolkata", "Asia/Kolkata"), _project("utc")]
    expected: dict[str, dict[date, Decimal]] = {}
    for project, ingest_key, _ in projects:
        today = now.astimezone(project.tz).date()
        spans, sums = [], defaultdict(Decimal)
        for back in range(8):
            day = today - timedelta(days=back)
            for i, hour_minute in enumerate(((9, 0), (22, 30)) if back else ((0, 5), (0, 10))):
                at = datetime(day.year, day.month, day.day, *hour_minute, tzinfo=project.tz)
                # 800,000 input tokens of gpt-4o at $2.50 per million = $2; today $3.50 twice.
                tokens = 800_000 if back else 1_400_000
                spans.append(
                    _chat_span(
                        f"{back:02d}{i:02d}".ljust(32, "a"),
                        f"{back + 1:02d}{i:02d}".ljust(16, "b"),
                        at,
                        input_tokens=tokens,
                    )
                )
                sums[day] += D(tokens) * D("2.5") / 10**6
        random.Random(project.slug).shuffle(spans)
        for chunk in range(0, len(spans), 5):  # several exports
            _post(ingest_key, _body(spans[chunk : chunk + 5]))
        expected[project.slug] = dict(sums)
    recompute_dirty()
    for project, _, read_key in projects:
        days = {r.day: r.cost for r in RollupDay.objects.filter(project=project, dimension="total")}
        assert days == expected[project.slug], project.slug
        summary = _get(read_key, "/api/v1/summary")
        today = now.astimezone(project.tz).date()
        assert D(summary["today_usd"]) == D(7), project.slug
        assert D(summary["yesterday_usd"]) == D(4), project.slug


# --- One owner for attribution: batching never changes a number ------------------------------------------


def _team_trace() -> list:
    """Root (owner) -> member span (member-7) -> an agent LLM span wrapping the SDK's LLM span, and
    an LLM call straight under the root; a tool span in between that carries nothing."""
    recorder = SpanRecorder()
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
    }
    with recorder.span("POST /team", {"http.route": "/team", "enduser.id": "owner"}, kind=SpanKind.SERVER):
        with recorder.span("for-member", {"enduser.id": "member-7", "app.feature": "digest"}):
            with recorder.span("agent step", {"openinference.span.kind": "CHAIN"}):
                with recorder.span(
                    "agent llm",
                    {
                        "openinference.span.kind": "LLM",
                        "llm.provider": "openai",
                        "llm.model_name": "gpt-4o",
                        "llm.token_count.prompt": 500,
                        "llm.token_count.completion": 50,
                    },
                ):
                    recorder.record(
                        "chat gpt-4o",
                        {**chat, "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 50},
                        kind=SpanKind.CLIENT,
                    )
            recorder.record("chat gpt-4o", {**chat, "gen_ai.response.id": "r-1"}, kind=SpanKind.CLIENT)
        recorder.record("chat gpt-4o", {**chat, "gen_ai.response.id": "r-2"}, kind=SpanKind.CLIENT)
    return list(recorder.exporter.get_finished_spans())


TEAM_SPANS = _team_trace()
_SPLIT_RUNS = itertools.count()


def _rollup_state(project: Project) -> dict:
    return {
        (r.dimension, r.key): (r.cost, r.llm_calls, r.unknown_usage_calls)
        for r in RollupHour.objects.filter(project=project)
    }


@pytest.mark.django_db
@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_trace_split_into_exports_in_any_order_with_resends_rolls_up_like_one_export(prices, data) -> None:
    with transaction.atomic():
        slug = f"split{next(_SPLIT_RUNS)}"
        single, single_key, _ = _project(slug + "a")
        split, split_key, _ = _project(slug + "b")
        _post(single_key, encode_spans(TEAM_SPANS).SerializeToString(), "application/x-protobuf")
        order = data.draw(st.permutations(range(len(TEAM_SPANS))))
        cuts = sorted(data.draw(st.sets(st.integers(1, len(TEAM_SPANS) - 1), max_size=len(TEAM_SPANS) - 1)))
        exports = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, len(order)])]
        resends = data.draw(st.lists(st.sampled_from(range(len(exports))), max_size=3))
        for index in [*range(len(exports)), *resends]:
            _post(
                split_key,
                encode_spans([TEAM_SPANS[i] for i in exports[index]]).SerializeToString(),
                "application/x-protobuf",
            )
            if data.draw(st.booleans()):
                recompute_dirty()  # rollups may run between exports
        recompute_dirty()
        state = _rollup_state(single)
        assert _rollup_state(split) == state
        # 3 calls: the agent span and the SDK span are one call; member-7 for the calls under its span.
        assert state[("total", "")][1] == 3
        assert state[("user", "member-7")] == (D("0.00175") + D("0.0035"), 2, 0)
        assert state[("user", "owner")] == (D("0.0035"), 1, 0)
        assert state[("endpoint", "/team")][1] == 3
        transaction.set_rollback(True)


# --- The handed cases and scenarios ----------------------------------------------------------------------


@pytest.mark.django_db
def test_nested_duplicate_case_counts_once_and_the_request_page_adds_up(acme_ingest_key, acme_read_key, prices) -> None:
    body = (CASES / "spans" / "nested-duplicate-llm-spans.json").read_bytes()
    trace = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    _post(acme_ingest_key, body)
    recompute_dirty()
    page = _get(acme_read_key, f"/api/v1/requests/{trace}")
    assert page["summary"]["cost_usd"] == "0.00225"
    assert page["summary"]["duplicate_calls"] == 1 and page["summary"]["llm_calls"] == 1
    counted = [c for c in page["calls"] if c["counted"]]
    assert [c["duplicate"] for c in page["calls"]].count(True) == 1
    assert sum(D(c["cost_usd"]) for c in counted) == D(page["summary"]["cost_usd"])
    assert {c["user"] for c in page["calls"]} == {"qa-user-11"}
    users = _get(acme_read_key, "/api/v1/costs", group_by="user", start="2026-11-01", end="2026-12-31")["results"]
    assert [(r["key"], r["cost_usd"]) for r in users] == [("qa-user-11", "0.00225")]


@pytest.mark.django_db
def test_stream_without_usage_is_unknown_never_a_priced_zero(acme_ingest_key, acme_read_key, prices) -> None:
    body = (CASES / "spans" / "stream-without-usage.json").read_bytes()
    trace = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    _post(acme_ingest_key, body)
    recompute_dirty()
    call = LlmCall.objects.get()
    assert (call.usage_state, call.cost_total, call.price_key) == ("unknown", None, "gpt-4o-mini")
    page = _get(acme_read_key, f"/api/v1/requests/{trace}")
    assert page["summary"]["cost_usd"] is None and page["summary"]["unknown_usage_calls"] == 1
    assert page["calls"][0]["cost_usd"] is None and page["calls"][0]["cost_source"] == "usage unknown"
    [row] = _get(acme_read_key, "/api/v1/costs", group_by="user", start="2026-11-01", end="2026-12-31")["results"]
    assert (row["key"], row["cost_usd"], row["unknown_usage_calls"], row["cost_complete"]) == (
        "qa-user-10",
        None,
        1,
        False,
    )
    # The CSV renders the same rows: unknown money reads "unpriced" (tests/ingest/test_cases.py exports
    # it as finance through the API for every handed case).
    import csv as csv_module
    import io

    from costwatch.usage.exports import cost_csv_response, cost_row_json
    from costwatch.usage.queries import CostRow

    csv_text = cost_csv_response(
        [cost_row_json(CostRow("qa-user-10", llm_calls=1, unknown_usage_calls=1))], "x.csv"
    ).content
    [line] = list(csv_module.DictReader(io.StringIO(csv_text.decode())))
    assert (line["key"], line["cost_usd"], line["cost_complete"], line["unknown_usage_calls"]) == (
        "qa-user-10",
        "unpriced",
        "False",
        "1",
    )


@pytest.mark.django_db
def test_a_300_character_user_id_is_kept_whole_and_finds_its_spend(
    acme, acme_ingest_key, acme_read_key, prices
) -> None:
    long_user = "u" * 299 + "1"
    sibling = "u" * 299 + "2"  # shares the first 299 characters
    at = datetime.now(UTC) - timedelta(minutes=5)
    _post(
        acme_ingest_key,
        _body(
            [
                _chat_span("a" * 32, "1" * 16, at, user=long_user, input_tokens=400_000),
                _chat_span("b" * 32, "2" * 16, at, user=sibling, input_tokens=800_000),
            ]
        ),
    )
    recompute_dirty()
    from alerts.models import Rule

    Rule.objects.create(project=acme, name="per user", kind="budget", scope="user", period="day", amount=D("0.5"))
    status = _get(acme_read_key, "/api/v1/budgets/status", user=long_user)
    [budget] = [b for b in status["budgets"] if b["scope"] == "user"]
    assert D(budget["spend_usd"]) == D(1)
    user = _get(acme_read_key, f"/api/v1/users/{long_user}")
    assert D(user["cost_usd"]) == D(1)


@pytest.mark.django_db
def test_an_attribution_key_past_the_limit_is_rejected_alone_with_a_message(acme_ingest_key, prices) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    answer = _post(
        acme_ingest_key,
        _body([_chat_span("c" * 32, "3" * 16, at, user="x" * 5000), _chat_span("d" * 32, "4" * 16, at, user="fine")]),
    )
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "user is 5000 characters" in answer["partialSuccess"]["errorMessage"]
    assert list(LlmCall.objects.values_list("user", flat=True)) == ["fine"]


@pytest.mark.django_db
def test_a_model_filter_finds_calls_by_any_of_its_names(acme_ingest_key, acme_read_key, prices) -> None:
    at = datetime(2026, 11, 10, 12, tzinfo=UTC)
    _post(
        acme_ingest_key,
        _body(
            [
                _chat_span("e" * 32, "5" * 16, at, model="gpt-4o-2024-08-06", input_tokens=400_000),
                _chat_span("f" * 32, "6" * 16, at, model="gpt-4o", input_tokens=400_000),
            ]
        ),
    )
    recompute_dirty()
    for name in ("gpt-4o-2024-08-06", "gpt-4o", "openai/gpt-4o"):
        rows = _get(acme_read_key, "/api/v1/costs", group_by="model", model=name, start="2026-11-01", end="2026-11-30")[
            "results"
        ]
        assert [(r["key"], r["cost_usd"], r["llm_calls"]) for r in rows] == [("gpt-4o", "2", 2)], name


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide"])
def test_days_and_budget_windows_follow_the_local_midnight_in_every_offset(zone, prices) -> None:
    project, ingest_key, read_key = _project("z" + zone.split("/")[1].lower(), zone)
    tz = ZoneInfo(zone)
    today = datetime.now(tz).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=tz)
    # One call a minute before local midnight (yesterday), one a minute after (today).
    _post(
        ingest_key,
        _body(
            [
                _chat_span("1" * 32, "7" * 16, midnight - timedelta(minutes=1), input_tokens=400_000),
                _chat_span("2" * 32, "8" * 16, midnight + timedelta(minutes=1), input_tokens=800_000),
            ]
        ),
    )
    recompute_dirty()
    days = {r.day: r.cost for r in RollupDay.objects.filter(project=project, dimension="total")}
    assert days == {today - timedelta(days=1): D(1), today: D(2)}
    from alerts.models import Rule

    Rule.objects.create(project=project, name="daily", kind="budget", period="day", amount=D(10))
    status = _get(read_key, "/api/v1/budgets/status")
    [budget] = status["budgets"]
    assert datetime.fromisoformat(budget["period_start"]) == midnight
    assert D(budget["spend_usd"]) == D(2)


@pytest.mark.django_db
def test_a_raised_budget_moves_the_breach_to_the_level_that_holds_and_says_so(acme, receiver) -> None:  # noqa: ANN001, F811 - the fixture
    from alerts.incidents import evaluate_rules
    from alerts.models import Incident
    from alerts.rules import save_rule
    from tests.alerts.conftest import make_channel, make_rule, put_spend, send_pending

    channel = make_channel(acme, "webhook", url=receiver.url + "/hook")
    rule = make_rule(acme, [channel], name="Monthly", period="month", amount=D(100), warn_percents=[80, 90])
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    put_spend(acme, now - timedelta(hours=2), "111")
    evaluate_rules(now)
    send_pending(now)
    with transaction.atomic():
        save_rule(acme, {"amount": D(120)}, None, rule)
    evaluate_rules(now + timedelta(minutes=1))
    firing = Incident.objects.get(state="firing")
    assert (firing.level, firing.value, firing.threshold) == ("warn:90", D(111), D(108))
    send_pending(now + timedelta(minutes=1))
    summaries = [r.json()["summary"] for r in receiver.wait_for(2, timeout=5)]
    assert summaries[0].startswith("Budget reached: project acme spent $111.00 of $100.00")
    assert summaries[1].startswith("Changed from budget reached: 90% of budget: project acme spent $111.00 of $120.00")
    # Reminders state the current threshold; a resolve describes the resolution.
    rule.refresh_from_db()
    later = now + timedelta(hours=2)
    evaluate_rules(later)
    send_pending(later)
    assert "of $120.00" in receiver.wait_for(3, timeout=5)[2].json()["summary"]
    with transaction.atomic():
        save_rule(acme, {"amount": D(1000)}, None, rule)
    evaluate_rules(later + timedelta(minutes=1))
    send_pending(later + timedelta(minutes=1))
    resolved = receiver.wait_for(4, timeout=5)[3].json()
    assert resolved["event"] == "resolved"
    assert resolved["summary"].startswith("Resolved: project acme is below the 90% warning level")


@pytest.mark.django_db
def test_a_span_sent_again_with_another_start_time_counts_once(acme_ingest_key, acme_read_key, prices) -> None:
    """A span's identity is (project, trace id, span id), whatever its start time (the calls table is
    partitioned by start time, so both rows are stored; the rollup counts the first)."""
    at = datetime.now(UTC) - timedelta(hours=3)
    for moment in (at, at + timedelta(microseconds=1), at - timedelta(days=1)):
        _post(acme_ingest_key, _body([_chat_span("e" * 32, "9" * 16, moment, input_tokens=400_000, user="twice")]))
    recompute_dirty()
    page = _get(acme_read_key, f"/api/v1/requests/{'e' * 32}")
    assert (page["summary"]["cost_usd"], page["summary"]["llm_calls"], page["summary"]["duplicate_calls"]) == (
        "1",
        1,
        2,
    )
    [counted] = [c for c in page["calls"] if c["counted"]]
    assert datetime.fromisoformat(counted["started_at"].replace("Z", "+00:00")) == at  # the first one stored
    rows = _get(
        acme_read_key,
        "/api/v1/costs",
        group_by="user",
        start=(at - timedelta(days=2)).date().isoformat(),
        end=(at + timedelta(days=1)).date().isoformat(),
    )["results"]
    assert [(r["key"], r["cost_usd"], r["llm_calls"]) for r in rows] == [("twice", "1", 1)]
