"""A project's calendar: its days, ISO weeks and months in its time zone, as UTC instants.

"Today", "this month", a budget's period, a page's date range and the savings advisor's last N
days all come from here (DESIGN, invariant 6). A day runs from local midnight to the next local
midnight, so across a daylight-saving change it is 23 or 25 hours long; every window is
``[start, end)`` in UTC. Month arithmetic (``month_start``, ``next_month``, ``previous_month``)
works on dates and serves UTC months (partitions) as well. Pure: no database, no settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal

PERIODS = ("day", "week", "month")


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(day: date) -> date:
    """The first day of the month before ``day``'s."""
    return month_start(month_start(day) - timedelta(days=1))


def week_key(day: date) -> str:
    """The ISO week holding ``day`` (Monday first), e.g. "2026-W45"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Window:
    """A calendar period in the project's time zone; start/end are UTC (end exclusive)."""

    key: str
    start: datetime
    end: datetime

    def elapsed_fraction(self, now: datetime) -> Decimal:
        """How much of the window has passed at ``now``: 0 before it, 1 after it."""
        total = (self.end - self.start).total_seconds()
        done = min(max((now - self.start).total_seconds(), 0.0), total)
        return Decimal(str(done)) / Decimal(str(total))


@dataclass(frozen=True)
class ProjectCalendar:
    """Days, weeks and months in one time zone (a project's ``tz``; ``UTC_CALENDAR`` for bills and partitions)."""

    tz: tzinfo

    @classmethod
    def of(cls, project) -> ProjectCalendar:  # noqa: ANN001 - Project (anything with a ``tz``)
        return cls(project.tz)

    def date_of(self, moment: datetime) -> date:
        """The local date at ``moment`` (an aware datetime)."""
        return moment.astimezone(self.tz).date()

    def midnight(self, day: date) -> datetime:
        """The start of the local ``day``, in UTC."""
        return datetime.combine(day, time.min, tzinfo=self.tz).astimezone(timezone.utc)

    def span(self, first: date, last: date) -> tuple[datetime, datetime]:
        """The local days ``first`` to ``last`` (inclusive) as UTC ``(start, end)``."""
        return self.midnight(first), self.midnight(last + timedelta(days=1))

    def last_days(self, days: int, now: datetime) -> tuple[datetime, datetime]:
        """The last ``days`` whole local days including today, as UTC ``(start, end)``."""
        today = self.date_of(now)
        return self.span(today - timedelta(days=days - 1), today)

    def days_of(self, start: datetime, end: datetime) -> tuple[date, date]:
        """The first and last (inclusive) local days that ``[start, end)`` touches."""
        return self.date_of(start), self.date_of(end - timedelta(microseconds=1))

    def whole_days(self, start: datetime, end: datetime) -> tuple[date, date] | None:
        """``(first day, day after the last)`` when ``[start, end)`` runs from local midnight to local
        midnight, else None."""
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        if (
            local_start.timetz().replace(tzinfo=None) == time.min
            and local_end.timetz().replace(tzinfo=None) == time.min
        ):
            return local_start.date(), local_end.date()
        return None

    def day(self, day: date) -> Window:
        """The local ``day``, keyed "2026-11-03"."""
        return Window(day.isoformat(), self.midnight(day), self.midnight(day + timedelta(days=1)))

    def week(self, day: date) -> Window:
        """The ISO week (Monday first) holding ``day``, keyed "2026-W45"."""
        monday = day - timedelta(days=day.weekday())
        return Window(week_key(monday), self.midnight(monday), self.midnight(monday + timedelta(days=7)))

    def month(self, day: date) -> Window:
        """The month holding ``day``, keyed "2026-11"."""
        first = month_start(day)
        return Window(f"{first:%Y-%m}", self.midnight(first), self.midnight(next_month(first)))

    def window(self, period: str, now: datetime) -> Window:
        """The day, ISO week or month (``PERIODS``) containing ``now``. ``ValueError`` for another period."""
        today = self.date_of(now)
        if period == "day":
            return self.day(today)
        if period == "week":
            return self.week(today)
        if period == "month":
            return self.month(today)
        raise ValueError(f"unknown budget period {period!r}")


UTC_CALENDAR = ProjectCalendar(timezone.utc)
