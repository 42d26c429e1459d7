"""The savings advisor finds each opportunity in traffic of known shape, sent through the real ingest
(POST /v1/traces), rolled up by the real rollup code, read through GET /api/v1/savings; every saving
is computed here by hand from the prices and token counts (period = 30 days, so a month = the period)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from costwatch.projects.models import Role
from costwatch.projects.services import create_project, issue_key, set_member
from costwatch.usage.rollups import recompute_dirty
from tests.savings.traffic import GPT4O, MINI, M, cost, request_spans, send, store_prices

pytestmark = pytest.mark.django_db
D = Decimal
UTC = timezone.utc
SIX = D("0.000001")


@pytest.fixture
def base() -> datetime:
    return (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture
def shop(db):  # noqa: ANN001, ANN201
    store_prices()
    project = create_project("shop", name="Shop", timezone_name="UTC")
    return project, issue_key(project, "ingest").secret, issue_key(project, "read").secret


def _get(key: str, **params: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/v1/savings", params)
    assert response.status_code == 200, response.content
    return response.json()


def _one(results: list[dict], kind: str, key: str) -> dict:
    found = [r for r in results if r["kind"] == kind and r["key"] == key]
    assert len(found) == 1, [(r["kind"], r["key"]) for r in results]
    return found[0]


def _classify(base: datetime) -> tuple[list[dict], list[tuple[int, int]]]:
    """A feature on a large model with short outputs: 40 calls of gpt-4o, prompts 500..1475, 5 output tokens."""
    shape = [(500 + 25 * i, 5) for i in range(40)]
    spans = [
        s
        for i, (inp, out) in enumerate(shape)
        for s in request_spans(
            base + timedelta(minutes=10 * i), feature="classify", model="gpt-4o", input_tokens=inp, output_tokens=out
        )
    ]
    return spans, shape


def _summarize(base: datetime) -> tuple[list[dict], list[tuple[int, int]]]:
    """A long stable prompt without caching: 30 calls a minute apart, 6000-6200 input tokens, on gpt-4o-mini."""
    shape = [(6000 + (i % 3) * 100, 200) for i in range(30)]
    spans = [
        s
        for i, (inp, out) in enumerate(shape)
        for s in request_spans(
            base + timedelta(hours=1, minutes=i),
            feature="summarize",
            model="gpt-4o-mini",
            input_tokens=inp,
            output_tokens=out,
        )
    ]
    return spans, shape


def _chat(base: datetime) -> tuple[list[dict], list[int]]:
    """A chat whose context grows linearly: 10 turns, prompt 1000 + 500 t, 100 output tokens."""
    prompts = [1000 + 500 * t for t in range(10)]
    spans = [
        s
        for t, prompt in enumerate(prompts)
        for s in request_spans(
            base + timedelta(hours=2, seconds=30 * t),
            feature="chat",
            model="gpt-4o-mini",
            input_tokens=prompt,
            output_tokens=100,
            conversation="conv-1",
        )
    ]
    return spans, prompts


def _nightly(base: datetime) -> tuple[list[dict], list[tuple[int, int]]]:
    """A nightly batch job: 20 calls with no SERVER span in their traces, at 02:00."""
    shape = [(200 + 50 * i, 50) for i in range(20)]
    night = base.replace(hour=2)
    spans = [
        s
        for i, (inp, out) in enumerate(shape)
        for s in request_spans(
            night + timedelta(minutes=2 * i),
            feature="nightly",
            model="gpt-4o-mini",
            input_tokens=inp,
            output_tokens=out,
            server=False,
        )
    ]
    return spans, shape


def _extract(base: datetime) -> tuple[list[dict], list[tuple[int, int]]]:
    """Outputs with a long tail: 98 calls of 100 output tokens, one of 1500 and one of 3000 (gpt-4o-mini)."""
    shape = [(300 + (i % 7) * 100, 100) for i in range(98)] + [(300, 1500), (300, 3000)]
    spans = [
        s
        for i, (inp, out) in enumerate(shape)
        for s in request_spans(
            base + timedelta(hours=4, minutes=7 * i),
            feature="extract",
            model="gpt-4o-mini",
            input_tokens=inp,
            output_tokens=out,
        )
    ]
    return spans, shape


def test_each_shape_is_found_with_the_saving_computed_by_hand(shop, base) -> None:  # noqa: ANN001
    project, ingest, read = shop
    classify, classify_shape = _classify(base)
    summarize, summarize_shape = _summarize(base)
    chat, chat_prompts = _chat(base)
    nightly, nightly_shape = _nightly(base)
    extract, extract_shape = _extract(base)
    send(ingest, classify + summarize + chat + nightly + extract)
    recompute_dirty()

    body = _get(read, period="30d")
    assert body["period"]["days"] == 30
    results = body["results"]
    found = {(r["kind"], r["key"]) for r in results}
    assert found == {
        ("model_whatif", "classify"),
        ("prompt_caching", "summarize"),
        ("conversation_context", "chat"),
        ("batch", "nightly"),
        ("output_caps", "extract"),
        ("outliers", "extract"),
    }, found

    # 1. Right-sizing: the same mix on gpt-4o-mini (tiny-1k's window is too small, no-window's is unknown).
    current = sum(cost(GPT4O, i, o) for i, o in classify_shape)
    mini = sum(cost(MINI, i, o) for i, o in classify_shape)
    whatif = _one(results, "model_whatif", "classify")
    assert whatif["status"] == "what_if" and whatif["saving_per_month_usd"] is None
    assert D(whatif["potential_per_month_usd"]) == (current - mini).quantize(SIX)
    assert whatif["evidence"]["cheapest_fitting"] == "openai/gpt-4o-mini"
    assert whatif["evidence"]["largest_call_tokens"] == 1480
    assert whatif["evidence"]["models_with_unknown_context_window"] == 1
    assert "cannot judge" in whatif["notes"][0]
    table = {row["model"]: row for row in whatif["evidence"]["table"]}
    assert set(table) == {"gpt-4o", "gpt-4o-mini"} and table["gpt-4o"]["current"]
    assert whatif["chart"]["labels"] == ["openai/gpt-4o-mini", "openai/gpt-4o"]

    # 2. Prompt caching: stable part 6000 tokens; 29 calls follow the previous one within 5 minutes
    # (cache read at 0.075 instead of 0.15), the first writes (gpt-4o-mini writes at the input price).
    caching = _one(results, "prompt_caching", "summarize")
    expected = 29 * 6000 * (MINI["input"] - MINI["cache_read"]) / M
    assert D(caching["saving_per_month_usd"]) == expected.quantize(SIX) == D("0.013050")
    assert caching["evidence"]["stable_prompt_tokens"] == 6000
    assert (caching["evidence"]["calls_hitting"], caching["evidence"]["calls_writing"]) == (29, 1)

    # 4. Context: keep 4 turns + 500 summary tokens → turns 6..10 capped at 3000 + 500 tokens.
    context = _one(results, "conversation_context", "chat")
    removed = sum(max(0, p - (chat_prompts[4] + 500)) for p in chat_prompts[5:])
    assert removed == 5000
    assert D(context["saving_per_month_usd"]) == (removed * MINI["input"] / M).quantize(SIX)
    assert context["chart"]["values"] == chat_prompts
    assert context["chart"]["kept"][-1] == 3500

    # 5. Batch: every call of the nightly job at half price.
    batch = _one(results, "batch", "nightly")
    assert D(batch["saving_per_month_usd"]) == (sum(cost(MINI, i, o) for i, o in nightly_shape) / 2).quantize(SIX)
    assert batch["evidence"]["background_calls"] == 20

    # 3. Output caps: p99 = 1500 (rank 99 of 100), the 3000-token call capped there.
    caps = _one(results, "output_caps", "extract")
    assert (caps["evidence"]["p50"], caps["evidence"]["p95"], caps["evidence"]["p99"], caps["evidence"]["max"]) == (
        100,
        100,
        1500,
        3000,
    )
    assert D(caps["saving_per_month_usd"]) == ((3000 - 1500) * MINI["output"] / M).quantize(SIX)
    assert sum(caps["chart"]["values"]) == 100

    # 6. Outliers: requests ≥ 5 × the median request cost, the excess above that budget.
    costs = sorted(cost(MINI, i, o) for i, o in extract_shape)
    median = costs[(len(costs) - 1) // 2]
    over = [c for c in costs if c >= 5 * median]
    outliers = _one(results, "outliers", "extract")
    assert len(over) == 2 and outliers["evidence"]["outliers"] == 2
    assert D(outliers["saving_per_month_usd"]) == sum(c - 5 * median for c in over).quantize(SIX)
    assert [t["output_tokens"] for t in outliers["evidence"]["top"]] == [3000, 1500]

    # Ranked by dollars per month: counted estimates first, the unapproved what-if after them.
    estimates = [D(r["saving_per_month_usd"]) for r in results if r["status"] == "estimate"]
    assert estimates == sorted(estimates, reverse=True)
    assert results[-1]["kind"] == "model_whatif"
    assert D(body["total_per_month_usd"]) == sum(estimates)


def test_an_approved_alternative_makes_the_what_if_saving_count(shop, base) -> None:  # noqa: ANN001
    project, ingest, read = shop
    spans, shape = _classify(base)
    send(ingest, spans)
    recompute_dirty()
    admin = get_user_model().objects.create_user("lead", password="pw")
    set_member(project, admin, Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    refused = client.post(
        "/api/v1/savings/alternatives",
        {"feature": "classify", "provider": "openai", "model": "gpt-5-nano"},
        format="json",
    )
    assert refused.status_code == 400 and "no standard price" in refused.json()["detail"]
    created = client.post(
        "/api/v1/savings/alternatives",
        {"feature": "classify", "provider": "openai", "model": "gpt-4o-mini"},
        format="json",
    )
    assert created.status_code == 201, created.content

    whatif = _one(_get(read, feature="classify")["results"], "model_whatif", "classify")
    saving = sum(cost(GPT4O, i, o) - cost(MINI, i, o) for i, o in shape)
    assert whatif["status"] == "estimate"
    assert D(whatif["saving_per_month_usd"]) == saving.quantize(SIX)
    assert whatif["evidence"]["approved_alternative"] == "openai/gpt-4o-mini"

    assert client.delete(f"/api/v1/savings/alternatives/{created.json()['id']}").status_code == 204
    assert _one(_get(read, feature="classify")["results"], "model_whatif", "classify")["status"] == "what_if"


def test_a_mix_without_opportunity_yields_none(shop, base) -> None:  # noqa: ANN001
    project, ingest, read = shop
    # Interactive (SERVER spans), a small model already, prompts too short and varied to cache,
    # outputs without a tail, no conversations, requests of similar cost.
    spans = []
    for i in range(60):
        spans += request_spans(
            base + timedelta(minutes=3 * i),
            feature="search",
            model="gpt-4o-mini",
            input_tokens=200 + (i * 37) % 900,
            output_tokens=20 + i % 20,
        )
    send(ingest, spans)
    recompute_dirty()
    body = _get(read)
    assert body["groups_examined"] == 1
    assert body["results"] == []
    assert body["total_per_month_usd"] == "0"


def test_unpriced_calls_are_excluded_and_said_so(shop, base) -> None:  # noqa: ANN001
    project, ingest, read = shop
    spans, shape = _classify(base)
    for i in range(3):
        spans += request_spans(
            base + timedelta(minutes=5 + 10 * i),
            feature="classify",
            model="mystery-llm",
            input_tokens=900,
            output_tokens=5,
        )
    send(ingest, spans)
    recompute_dirty()
    whatif = _one(_get(read)["results"], "model_whatif", "classify")
    assert whatif["partial"] is True and whatif["excluded_calls"] == 3
    assert any("3 of 43 calls have no known cost" in note for note in whatif["notes"])
    # The estimate covers the priced calls only: exactly the gpt-4o mix.
    saving = sum(cost(GPT4O, i, o) - cost(MINI, i, o) for i, o in shape)
    assert D(whatif["potential_per_month_usd"]) == saving.quantize(SIX)


def test_filters_by_kind_period_and_endpoint_and_scales_to_a_month(shop, base) -> None:  # noqa: ANN001
    project, ingest, read = shop
    spans, shape = _nightly(base)
    chat, _ = _chat(base)
    send(ingest, spans + chat)
    recompute_dirty()
    body = _get(read, period="7d", kind="batch")
    assert [(r["kind"], r["key"]) for r in body["results"]] == [("batch", "nightly")]
    # 7 days seen → × 30 / 7 for a month.
    expected = sum(cost(MINI, i, o) for i, o in shape) / 2 * 30 / 7
    assert D(body["results"][0]["saving_per_month_usd"]) == expected.quantize(SIX)
    by_endpoint = _get(read, endpoint="/chat", kind="conversation_context,batch")
    assert by_endpoint["scope"] == "endpoint"
    assert [(r["kind"], r["key"]) for r in by_endpoint["results"]] == [("conversation_context", "/chat")]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"period": "5d"}, "period must be one of"),
        ({"kind": "magic"}, "unknown kind magic"),
        ({"feature": "a", "endpoint": "b"}, "not both"),
        ({"scope": "user"}, "scope must be one of"),
    ],
)
def test_bad_filters_get_a_clear_error(shop, params, message) -> None:  # noqa: ANN001
    _, _, read = shop
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    response = client.get("/api/v1/savings", params)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_thresholds_are_per_project_and_checked(shop, base, globex) -> None:  # noqa: ANN001
    project, ingest, read = shop
    spans, _ = _nightly(base)
    send(ingest, spans)
    recompute_dirty()
    admin = get_user_model().objects.create_user("lead", password="pw")
    set_member(project, admin, Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    bad = client.put("/api/v1/savings/settings?project=shop", {"batch_min_share": "1.5"}, format="json")
    assert bad.status_code == 400 and "share between 0 and 1" in bad.json()["detail"]
    unknown = client.put("/api/v1/savings/settings?project=shop", {"nope": 1}, format="json")
    assert unknown.status_code == 400 and "unknown field" in unknown.json()["detail"]
    ok = client.put("/api/v1/savings/settings?project=shop", {"min_monthly_saving": "1000"}, format="json")
    assert ok.status_code == 200 and ok.json()["overrides"] == {"min_monthly_saving": "1000"}
    assert _get(read)["results"] == []  # every saving is below $1000 a month now
    # Another project keeps the defaults and sees none of shop's traffic; its key cannot ask for shop.
    globex_read = issue_key(globex, "read").secret
    other = _get(globex_read)
    assert other["thresholds"]["min_monthly_saving"] == "0" and other["groups_examined"] == 0
    client_g = APIClient()
    client_g.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_read}")
    assert client_g.get("/api/v1/savings", {"project": "shop"}).status_code == 403
    # Finance may read savings but not change thresholds; keys are read-only.
    finance = get_user_model().objects.create_user("fin", password="pw")
    set_member(project, finance, Role.FINANCE)
    fin = APIClient()
    fin.force_authenticate(finance)
    assert fin.get("/api/v1/savings").status_code == 200
    assert fin.put("/api/v1/savings/settings", {}, format="json").status_code == 403
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {read}")
    assert keyed.put("/api/v1/savings/settings", {}, format="json").status_code == 403


def test_response_cache_hits_show_what_they_save_already(shop, base) -> None:  # noqa: ANN001
    project, ingest, read = shop
    spans = []
    shape = [(600 + 50 * i, 30, i % 3 == 0) for i in range(12)]  # 4 of 12 answered from the app's cache
    for i, (inp, out, hit) in enumerate(shape):
        spans += request_spans(
            base + timedelta(minutes=7 * i),
            feature="faq",
            model="gpt-4o-mini",
            input_tokens=inp,
            output_tokens=out,
            cache_hit=hit,
        )
    send(ingest, spans)
    recompute_dirty()
    results = _get(read)["results"]
    assert [(r["kind"], r["status"]) for r in results] == [("response_cache", "realized")]
    found = results[0]
    assert found["evidence"]["hits"] == 4 and found["evidence"]["hit_rate"] == "0.3333"
    saved = sum(cost(MINI, i, o) for i, o, hit in shape if hit)
    assert D(found["saving_per_month_usd"]) == saved.quantize(SIX)
    assert any("prompt hash" in note for note in found["notes"])


def test_a_bounded_sample_is_scaled_to_the_period_by_cost(shop, base) -> None:  # noqa: ANN001
    from costwatch.savings.services import period_for, save_thresholds, savings_report

    project, ingest, read = shop
    spans, shape = _nightly(base)
    send(ingest, spans)
    recompute_dirty()
    save_thresholds(project, {"sample_requests": 6})
    report = savings_report(project, period=period_for(project, "30d"))
    [batch] = report.opportunities
    assert batch.sampled_calls == 6 and batch.evidence["background_calls"] == 6
    # The six most recent requests are the six largest prompts; the batch saving is half of any cost,
    # so scaled by period cost / sample cost it is half of the whole period's cost.
    sample = sum(cost(MINI, i, o) for i, o in shape[-6:]) / 2
    assert D(batch.evidence["sample_saving"]) == sample.quantize(SIX)
    assert batch.saving_per_month == (sum(cost(MINI, i, o) for i, o in shape) / 2).quantize(SIX)
