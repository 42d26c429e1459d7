"""Spend as other apps read it (costwatch.usage.spend): per group over a window, per local day, the
first day with spend, and requests over a limit. Always one project's rows, never another's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from costwatch.usage.models import RequestRollup, RollupHour
from costwatch.usage.spend import (
    TOTAL,
    Groups,
    daily_spend,
    first_spend_days,
    requests_over,
    spend_by_group,
)

pytestmark = pytest.mark.django_db
D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")  # acme's time zone
DAY = (datetime(2026, 11, 2, tzinfo=BERLIN), datetime(2026, 11, 3, tzinfo=BERLIN))


def hour(project, at: datetime, cost: str, dimension: str = TOTAL, key: str = "") -> None:  # noqa: ANN001
    RollupHour.objects.create(project=project, dimension=dimension, key=key, hour=at, cost=D(cost), llm_calls=1)


def test_spend_per_group_skips_calls_without_a_value_and_a_dimensions_other(acme, globex) -> None:  # noqa: ANN001
    at = datetime(2026, 11, 2, 9, tzinfo=BERLIN)
    hour(acme, at, "3")
    hour(acme, at - timedelta(days=1), "100")  # before the window
    for key, cost in (("alice", "1"), ("bob", "2"), ("", "7"), ("(other)", "9")):
        hour(acme, at, cost, "user", key)
        hour(acme, at, cost, "dim:4", key)
    hour(globex, at, "50", "user", "alice")
    assert spend_by_group(acme, Groups(TOTAL), *DAY) == {"": D(3)}
    # (other) can be a user's name, but for a custom dimension it is many values summed.
    assert spend_by_group(acme, Groups("user"), *DAY) == {"alice": D(1), "bob": D(2), "(other)": D(9)}
    assert spend_by_group(acme, Groups("dim:4"), *DAY) == {"alice": D(1), "bob": D(2)}
    assert spend_by_group(acme, Groups("user", "bob"), *DAY) == {"bob": D(2)}
    assert spend_by_group(acme, Groups("user"), *DAY, keys=["alice", "nobody"]) == {"alice": D(1)}


def test_daily_spend_is_per_local_day_and_first_spend_day_per_key(acme) -> None:  # noqa: ANN001
    # 23:30 UTC on Nov 1 is 00:30 on Nov 2 in Berlin.
    hour(acme, datetime(2026, 11, 1, 23, tzinfo=ZoneInfo("UTC")), "4", "feature", "search")
    hour(acme, datetime(2026, 11, 2, 12, tzinfo=BERLIN), "1", "feature", "search")
    hour(acme, datetime(2026, 11, 3, 12, tzinfo=BERLIN), "0", "feature", "chat")
    days = [DAY, (DAY[1], DAY[1] + timedelta(days=1))]
    assert daily_spend(acme, Groups("feature"), days, ["search", "chat"]) == {
        "search": {date(2026, 11, 2): D(5)},
        "chat": {date(2026, 11, 3): D(0)},
    }
    assert first_spend_days(acme, Groups("feature"), ["search", "chat"]) == {"search": date(2026, 11, 2), "chat": None}


def test_requests_over_a_limit_per_feature_largest_first_with_unknown_costs_counted(acme, globex) -> None:  # noqa: ANN001
    at = datetime(2026, 11, 2, 9, tzinfo=BERLIN)
    for i, (feature, tokens, cost, priced) in enumerate(
        [
            ("search", 900, "0.2", 1),
            ("search", 300, "0.05", 1),
            ("search", 1200, "0", 0),
            ("chat", 50, "0.01", 1),
            ("", 5000, "1", 1),
        ]
    ):
        RequestRollup.objects.create(
            project=acme,
            trace_id=f"{i:032x}",
            first_at=at,
            last_at=at,
            feature=feature,
            input_tokens=tokens,
            cost=D(cost),
            priced_calls=priced,
            llm_calls=1,
        )
    RequestRollup.objects.create(
        project=globex, trace_id="f" * 32, first_at=at, last_at=at, feature="search", input_tokens=10**6, llm_calls=1
    )
    [search, chat] = sorted(
        requests_over(acme, "feature", "input_tokens", D(500), *DAY), key=lambda g: g.key != "search"
    )
    assert (search.key, search.requests, search.unknown) == ("search", 3, 0)
    assert [(u.trace_id[-1], u.value) for u in search.over] == [("2", D(1200)), ("0", D(900))]
    assert (chat.key, chat.requests, chat.over) == ("chat", 1, [])
    [cost] = requests_over(acme, "feature", "cost", D("0.1"), *DAY, key="search")
    assert (cost.requests, cost.unknown, [u.value for u in cost.over]) == (3, 1, [D("0.2")])
    with pytest.raises(ValueError, match="grouped by feature or endpoint"):
        requests_over(acme, "user", "cost", D(1), *DAY)
