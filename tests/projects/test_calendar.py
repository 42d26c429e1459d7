from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from costwatch.projects.calendar import (
    UTC_CALENDAR,
    ProjectCalendar,
    month_start,
    next_month,
    previous_month,
    week_key,
)

BERLIN = ZoneInfo("Europe/Berlin")
BERLIN_CALENDAR = ProjectCalendar(BERLIN)
UTC = timezone.utc
D = Decimal


def test_budget_day_is_the_local_calendar_day_in_utc() -> None:
    w = BERLIN_CALENDAR.window("day", datetime(2026, 11, 2, 23, 30, tzinfo=UTC))  # already Nov 3 in Berlin
    assert w.key == "2026-11-03"
    assert w.start == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 3, 23, 0, tzinfo=UTC)


def test_budget_day_across_a_dst_change_is_23_hours_long() -> None:
    w = BERLIN_CALENDAR.window("day", datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert w.end - w.start == timedelta(hours=23)
    assert w.elapsed_fraction(w.start + timedelta(hours=23) / 2) == D("0.5")


def test_budget_week_starts_on_monday_and_month_on_the_first() -> None:
    now = datetime(2026, 11, 5, 10, tzinfo=UTC)  # a Thursday
    week = BERLIN_CALENDAR.window("week", now)
    assert week.key == "2026-W45"
    assert week.start == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Monday Nov 2, 00:00 Berlin
    month = BERLIN_CALENDAR.window("month", now)
    assert (month.key, month.start, month.end) == (
        "2026-11",
        datetime(2026, 10, 31, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
    )
    december = BERLIN_CALENDAR.window("month", datetime(2026, 12, 31, 22, tzinfo=UTC))
    assert december.end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown budget period 'year'"):
        BERLIN_CALENDAR.window("year", datetime(2026, 11, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    ("day", "first", "following", "before"),
    [
        (date(2026, 1, 31), date(2026, 1, 1), date(2026, 2, 1), date(2025, 12, 1)),
        (date(2024, 2, 29), date(2024, 2, 1), date(2024, 3, 1), date(2024, 1, 1)),
        (date(2026, 12, 1), date(2026, 12, 1), date(2027, 1, 1), date(2026, 11, 1)),
        (date(2026, 3, 31), date(2026, 3, 1), date(2026, 4, 1), date(2026, 2, 1)),
    ],
)
def test_month_arithmetic_works_from_any_day(day: date, first: date, following: date, before: date) -> None:
    assert (month_start(day), next_month(day), previous_month(day)) == (first, following, before)


def test_an_iso_week_belongs_to_the_year_of_its_thursday() -> None:
    assert week_key(date(2026, 12, 31)) == "2026-W53" and week_key(date(2027, 1, 3)) == "2026-W53"
    assert week_key(date(2025, 12, 29)) == "2026-W01"


def test_local_days_of_a_utc_period() -> None:
    start, end = BERLIN_CALENDAR.span(date(2026, 3, 28), date(2026, 3, 29))  # the DST change inside
    assert (start, end) == (datetime(2026, 3, 27, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    assert BERLIN_CALENDAR.days_of(start, end) == (date(2026, 3, 28), date(2026, 3, 29))
    assert BERLIN_CALENDAR.whole_days(start, end) == (date(2026, 3, 28), date(2026, 3, 30))
    assert BERLIN_CALENDAR.whole_days(start, end - timedelta(hours=1)) is None
    assert BERLIN_CALENDAR.date_of(datetime(2026, 11, 2, 23, 30, tzinfo=UTC)) == date(2026, 11, 3)


def test_the_last_days_include_today() -> None:
    now = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # Nov 3 in Berlin
    assert BERLIN_CALENDAR.last_days(7, now) == BERLIN_CALENDAR.span(date(2026, 10, 28), date(2026, 11, 3))
    assert UTC_CALENDAR.last_days(1, now) == (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
