"""Pulling bills from local servers that answer with the providers' documented shapes."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from costwatch.billing import services
from costwatch.billing.models import BilledCost, BilledDay, BillImport, BillingSource
from costwatch.billing.sources import SourceError
from tests.billing.conftest import Answer, Seen

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
DAY = 86400
NOV_18 = int(datetime(2026, 11, 18, tzinfo=timezone.utc).timestamp())


def openai_bucket(start: int, results: list[tuple[str, str, str | None]]) -> dict:
    """A documented Costs API bucket; each result is (value as JSON number text, line_item, project_id)."""
    return {
        "object": "bucket",
        "start_time": start,
        "end_time": start + DAY,
        "results": [
            {
                "object": "organization.costs.result",
                "amount": {"value": "__NUM__" + value, "currency": "usd"},
                "line_item": line_item,
                "project_id": project,
            }
            for value, line_item, project in results
        ],
    }


def as_json_numbers(body: dict) -> str:
    """JSON where the amounts are numbers written exactly as given (as the API sends them)."""
    import json

    return json.dumps(body).replace('"__NUM__', "").replace('", "currency"', ', "currency"')


def openai_pages(seen: Seen) -> Answer:
    page = (seen.params("page") or [""])[0]
    if page == "":
        body = {
            "object": "page",
            "has_more": True,
            "next_page": "page_2",
            "data": [
                openai_bucket(
                    NOV_18,
                    [
                        ("0.1234567890123", "gpt-4o-2024-08-06, input", "proj_a"),
                        ("2.5", "gpt-4o-2024-08-06, output", "proj_a"),
                        ("9.99", "gpt-4o-2024-08-06, input", "proj_other"),
                    ],
                )
            ],
        }
    else:
        body = {
            "object": "page",
            "has_more": False,
            "next_page": None,
            "data": [
                openai_bucket(NOV_18 + DAY, [("1.00", "o3, output", "proj_a")]),
                openai_bucket(NOV_18 + 2 * DAY, []),
            ],
        }
    return Answer(body=as_json_numbers(body))


def test_openai_pull_follows_pages_keeps_amounts_exact_and_filters_projects(acme, provider_server) -> None:  # noqa: ANN001
    server = provider_server(openai_pages)
    source = services.add_source(acme, "openai", "sk-admin-secret-1234", scope_ids=["proj_a"], base_url=server.url)

    result = services.pull_source(source.pk, days=3, now=NOW)

    assert result is not None and result.days == [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
    first, second = server.seen
    assert first.path == "/v1/organization/costs"
    assert first.headers["authorization"] == "Bearer sk-admin-secret-1234"
    assert first.params("start_time") == [str(NOV_18)] and first.params("end_time") == [str(NOV_18 + 3 * DAY)]
    assert first.params("bucket_width") == ["1d"]
    assert sorted(first.params("group_by")) == ["line_item", "project_id"]
    assert first.params("project_ids") == ["proj_a"]
    assert second.params("page") == ["page_2"]
    lines = {(c.billed_day.day, c.line_item): c for c in BilledCost.objects.select_related("billed_day")}
    assert lines[(date(2026, 11, 18), "gpt-4o-2024-08-06, input")].amount == Decimal("0.1234567890123")
    assert lines[(date(2026, 11, 18), "gpt-4o-2024-08-06, input")].model == "gpt-4o-2024-08-06"
    assert lines[(date(2026, 11, 18), "gpt-4o-2024-08-06, input")].currency == "USD"
    assert lines[(date(2026, 11, 19), "o3, output")].amount == Decimal("1.00")
    assert len(lines) == 3  # proj_other is not this source's project
    # A day the provider answered with no results is billed nothing (known $0), not missing.
    assert BilledDay.objects.filter(project=acme, day=date(2026, 11, 20), lines__isnull=True).exists()
    source.refresh_from_db()
    assert source.last_pull_ok is True and source.last_error == ""


def anthropic_pages(seen: Seen) -> Answer:
    page = (seen.params("page") or [""])[0]
    if page == "":
        return Answer(
            body={
                "has_more": True,
                "next_page": "page_MjAyNi0xMS0xOQ==",
                "data": [
                    {
                        "starting_at": "2026-11-18T00:00:00Z",
                        "ending_at": "2026-11-19T00:00:00Z",
                        "results": [
                            {
                                "amount": "123.45",
                                "currency": "USD",
                                "description": "Claude Sonnet 4.5 Usage - Input Tokens",
                                "model": "claude-sonnet-4-5-20250929",
                                "cost_type": "tokens",
                                "token_type": "uncached_input_tokens",
                                "service_tier": "standard",
                                "context_window": "0-200k",
                                "workspace_id": "wrkspc_a",
                            },
                            {
                                "amount": "5000",
                                "currency": "USD",
                                "description": "Claude Sonnet 4.5 Usage - Input Tokens",
                                "model": "claude-sonnet-4-5-20250929",
                                "cost_type": "tokens",
                                "token_type": "uncached_input_tokens",
                                "service_tier": "standard",
                                "context_window": "0-200k",
                                "workspace_id": "wrkspc_other",
                            },
                            {
                                "amount": "1.5",
                                "currency": "USD",
                                "description": "Web Search",
                                "model": None,
                                "cost_type": "web_search",
                                "token_type": None,
                                "service_tier": None,
                                "context_window": None,
                                "workspace_id": "wrkspc_a",
                            },
                        ],
                    }
                ],
            }
        )
    return Answer(
        body={
            "has_more": False,
            "next_page": None,
            "data": [
                {
                    "starting_at": "2026-11-19T00:00:00Z",
                    "ending_at": "2026-11-20T00:00:00Z",
                    "results": [
                        {
                            "amount": "0.001",
                            "currency": "USD",
                            "description": "Claude Haiku 4.5 Usage - Output Tokens",
                            "model": "claude-haiku-4-5",
                            "cost_type": "tokens",
                            "token_type": "output_tokens",
                            "service_tier": "batch",
                            "context_window": "0-200k",
                            "workspace_id": "wrkspc_a",
                        }
                    ],
                }
            ],
        }
    )


def test_anthropic_pull_reads_cents_follows_pages_and_filters_workspaces(acme, provider_server) -> None:  # noqa: ANN001
    server = provider_server(anthropic_pages)
    source = services.add_source(acme, "anthropic", "sk-ant-admin01-xyz", scope_ids=["wrkspc_a"], base_url=server.url)

    services.pull_source(source.pk, days=2, now=datetime(2026, 11, 19, 23, 0, tzinfo=timezone.utc))

    first, second = server.seen
    assert first.path == "/v1/organizations/cost_report"
    assert first.headers["x-api-key"] == "sk-ant-admin01-xyz"
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert first.params("starting_at") == ["2026-11-18T00:00:00Z"]
    assert first.params("ending_at") == ["2026-11-20T00:00:00Z"]
    assert sorted(first.params("group_by[]")) == ["description", "workspace_id"]
    assert second.params("page") == ["page_MjAyNi0xMS0xOQ=="]
    lines = sorted(
        (c.billed_day.day, c.line_item, c.amount, c.model) for c in BilledCost.objects.select_related("billed_day")
    )
    assert lines == [
        (date(2026, 11, 18), "Claude Sonnet 4.5 Usage - Input Tokens", Decimal("1.2345"), "claude-sonnet-4-5-20250929"),
        (date(2026, 11, 18), "Web Search", Decimal("0.015"), ""),
        (date(2026, 11, 19), "Claude Haiku 4.5 Usage - Output Tokens", Decimal("0.00001"), "claude-haiku-4-5"),
    ]


def test_a_refused_key_is_a_clear_permanent_error_and_keeps_the_stored_bill(acme, provider_server) -> None:  # noqa: ANN001
    server = provider_server(openai_pages)
    source = services.add_source(acme, "openai", "sk-admin-good", base_url=server.url)
    services.pull_source(source.pk, days=3, now=NOW)
    before = sorted(BilledCost.objects.values_list("amount", flat=True))
    server.queued.append(
        Answer(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
    )

    with pytest.raises(SourceError) as raised:
        services.pull_source(source.pk, days=3, now=NOW)

    assert raised.value.permanent and raised.value.status_code == 401
    assert "refused the admin key" in str(raised.value) and "Incorrect API key provided" in str(raised.value)
    source.refresh_from_db()
    assert source.last_pull_ok is False and "refused the admin key" in source.last_error
    assert sorted(BilledCost.objects.values_list("amount", flat=True)) == before
    assert BillImport.objects.filter(ok=False, error__contains="401").count() == 1


def test_429_is_retried_after_the_retry_after_delay(acme, provider_server) -> None:  # noqa: ANN001
    server = provider_server(anthropic_pages)
    server.queued.append(
        Answer(
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            headers={"Retry-After": "1"},
        )
    )
    source = services.add_source(acme, "anthropic", "sk-ant-admin", base_url=server.url)

    services.pull_source(source.pk, days=2, now=datetime(2026, 11, 19, 23, 0, tzinfo=timezone.utc))

    assert len(server.seen) == 3  # 429, then both pages
    assert server.seen[1].at - server.seen[0].at >= 0.95
    assert BilledCost.objects.count() == 4


def test_429_past_the_attempt_cap_fails_without_touching_bills(acme, provider_server, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_BILLING_MAX_RETRY_WAIT_SECONDS = 0.05
    server = provider_server(lambda seen: Answer(429, {"error": {"message": "rate limited"}}, {"Retry-After": "30"}))
    source = services.add_source(acme, "openai", "sk-admin", base_url=server.url)

    with pytest.raises(SourceError, match="HTTP 429 after 3 attempts"):
        services.pull_source(source.pk, days=2, now=NOW)

    assert len(server.seen) == 3 and not BilledDay.objects.exists()


def test_pulling_again_replaces_each_day(acme, provider_server) -> None:  # noqa: ANN001
    amounts = {"value": "2.5"}

    def answer(seen: Seen) -> Answer:
        return Answer(
            body=as_json_numbers(
                {
                    "object": "page",
                    "has_more": False,
                    "next_page": None,
                    "data": [openai_bucket(NOV_18, [(amounts["value"], "gpt-4o, output", None)])],
                }
            )
        )

    server = provider_server(answer)
    source = services.add_source(acme, "openai", "sk-admin", base_url=server.url)
    services.pull_source(source.pk, days=3, now=NOW)
    services.pull_source(source.pk, days=3, now=NOW)
    assert list(BilledCost.objects.values_list("amount", flat=True)) == [Decimal("2.5")]
    amounts["value"] = "3.25"  # the provider corrected the day
    services.pull_source(source.pk, days=3, now=NOW)
    assert list(BilledCost.objects.values_list("amount", flat=True)) == [Decimal("3.25")]
    assert BilledDay.objects.filter(project=acme).count() == 3


def test_a_malformed_answer_is_an_error_not_an_empty_bill(acme, provider_server) -> None:  # noqa: ANN001
    server = provider_server(lambda seen: Answer(body={"error": "maintenance"}))
    source = services.add_source(acme, "openai", "sk-admin", base_url=server.url)
    with pytest.raises(SourceError, match="unexpected response shape"):
        services.pull_source(source.pk, days=1, now=NOW)
    assert not BilledDay.objects.exists()


@pytest.mark.parametrize(
    "provider, bucket",
    [
        ("openai", {"start_time": 10**20, "results": []}),
        ("anthropic", {"starting_at": "0001-01-01T00:00:00+05:00", "results": []}),
    ],
)
def test_a_bucket_time_out_of_range_is_an_error_naming_it(acme, provider_server, provider: str, bucket: dict) -> None:  # noqa: ANN001
    server = provider_server(lambda seen: Answer(body={"data": [bucket], "has_more": False}))
    source = services.add_source(acme, provider, "sk-admin", base_url=server.url)
    with pytest.raises(SourceError, match="is not (Unix seconds|an RFC 3339 time)"):
        services.pull_source(source.pk, days=1, now=NOW)
    assert not BilledDay.objects.exists()


def test_the_admin_key_is_encrypted_at_rest_and_erased_on_revoke(acme) -> None:  # noqa: ANN001
    source = services.add_source(acme, "openai", "sk-admin-very-secret-9876")
    stored = BillingSource.objects.get(pk=source.pk)
    assert "very-secret" not in stored.encrypted_key and stored.key_hint == "9876"
    from costwatch.billing.crypto import decrypt

    assert decrypt(stored.encrypted_key) == "sk-admin-very-secret-9876"
    assert services.revoke_source(stored) is True
    assert services.revoke_source(stored) is False
    stored.refresh_from_db()
    assert stored.encrypted_key == "" and stored.revoked_at is not None
    assert services.pull_source(stored.pk) is None
    assert services.request_pull(stored) is False


def test_a_key_encrypted_under_another_secret_asks_for_the_key_again(acme, settings) -> None:  # noqa: ANN001
    source = services.add_source(acme, "openai", "sk-admin")
    settings.COSTWATCH_SECRETS_KEY = "rotated"
    with pytest.raises(SourceError, match="enter it again"):
        services.pull_source(source.pk, days=1, now=NOW)


def test_beat_claims_each_due_source_once(acme, globex, provider_server) -> None:  # noqa: ANN001
    server = provider_server(openai_pages)
    a = services.add_source(acme, "openai", "sk-a", base_url=server.url)
    services.add_source(globex, "openai", "sk-g", base_url=server.url)
    revoked = services.add_source(globex, "anthropic", "sk-r", base_url=server.url)
    services.revoke_source(revoked)
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    claimed = services.claim_due_sources(later)
    assert len(claimed) == 2 and revoked.pk not in claimed
    assert services.claim_due_sources(later) == []
    services.request_pull(BillingSource.objects.get(pk=a.pk), now=later)
    assert services.claim_due_sources(later) == [a.pk]


def test_an_amount_finer_than_storage_is_refused_not_rounded(acme, provider_server) -> None:  # noqa: ANN001
    server = provider_server(
        lambda seen: Answer(
            body=as_json_numbers(
                {
                    "object": "page",
                    "has_more": False,
                    "next_page": None,
                    "data": [openai_bucket(NOV_18, [("0.123456789012345678901", "gpt-4o, input", None)])],
                }
            )
        )
    )
    source = services.add_source(acme, "openai", "sk-admin", base_url=server.url)
    with pytest.raises(SourceError, match="more than 20 decimal places"):
        services.pull_source(source.pk, days=3, now=NOW)
    source.refresh_from_db()
    assert source.last_pull_ok is False and not BilledDay.objects.exists()
