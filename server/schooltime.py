"""School days and school times, in Dutch wall-clock time. Pure functions, no database.

Used for 'opened before school start' in the anonymous counters and, later, for escalation and
quiet hours of pushes. Holidays are inclusive date ranges (first_day, last_day) as ISO strings.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from .clock import LOCAL_TZ


def parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def is_school_day(day: date, holidays: list[tuple[str, str]] = ()) -> bool:
    if day.weekday() >= 5:
        return False
    iso = day.isoformat()
    return not any(first <= iso <= last for first, last in holidays)


def at_local(day: date, hhmm: str) -> datetime:
    """The instant of a local wall-clock time on a day (handles DST through zoneinfo)."""
    return datetime.combine(day, parse_hhmm(hhmm), tzinfo=LOCAL_TZ)


def next_school_start(after: datetime, start_time: str, holidays=()) -> datetime:
    """The first school-day start (local `start_time`) strictly after `after`."""
    day = after.astimezone(LOCAL_TZ).date()
    for _ in range(400):
        if is_school_day(day, holidays):
            start = at_local(day, start_time)
            if start > after:
                return start
        day += timedelta(days=1)
    raise ValueError("no school day within 400 days — check the holidays")


def add_school_days(start: datetime, days: int, holidays=()) -> datetime:
    """The same local wall-clock time `days` school days later (weekends and holidays skipped).

    Friday 08:00 + 3 school days is Wednesday 08:00: a note assigned on a Friday must not expire
    on Monday morning before its teacher is back.
    """
    local = start.astimezone(LOCAL_TZ)
    day, counted = local.date(), 0
    for _ in range(400):
        if counted == days:
            return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=LOCAL_TZ)
        day += timedelta(days=1)
        if is_school_day(day, holidays):
            counted += 1
    raise ValueError("no school day within 400 days — check the holidays")
