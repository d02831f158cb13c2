"""When a push may go out: quiet hours, school days and escalation. Pure: no Flask, no database.

Every function takes the school's settings (a mapping with the `schools` columns), the holidays
as inclusive (first_day, last_day) ISO date pairs, and aware datetimes; it returns an aware UTC
datetime. School times are Dutch wall-clock times (`clock.LOCAL_TZ`), so DST is handled by
zoneinfo. The rules (why they are what they are: docs/decisions/0008-push-timing.md):

* A push is *held* while the school is quiet: during quiet hours (default 21:00-06:30) and on any
  day that is not a school day (weekend, holiday). It goes out at the end of the quiet period,
  which is `quiet_end` of the first school day at or after that moment. A signal that arrives on
  Friday night or during a holiday therefore buzzes the receiver on the next school morning, in
  time for the start of school and before escalation - never on a Saturday.
* Escalation to the backups is due at the school's `escalation_time` on a school day for a signal
  that arrived before it (that morning, the evening before, the weekend, a holiday); for a signal
  that arrives during the school day (from `escalation_time` to `SCHOOL_DAY_END`) it is due
  `escalation_delay_minutes` after arrival. The result is then held by the same quiet rule.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from .clock import LOCAL_TZ
from .schooltime import at_local, is_school_day, parse_hhmm

#: End of the window in which a newly arrived signal escalates after the delay instead of at the
#: next morning's escalation time. Schools have no end-of-day setting; 16:00 covers the last
#: lessons of PO and most of VO. A signal arriving later is for tomorrow morning anyway.
SCHOOL_DAY_END = "16:00"

DEFAULTS = {"escalation_time": "08:00", "escalation_delay_minutes": 30,
            "quiet_start": "21:00", "quiet_end": "06:30"}

_MAX_DAYS = 400


def _setting(school, key):
    value = school.get(key) if hasattr(school, "get") else None
    return DEFAULTS[key] if value in (None, "") else value


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    return dt.astimezone(timezone.utc)


def is_quiet_time(when: datetime, school) -> bool:
    """True during the school's quiet hours (local wall time; the range may wrap midnight)."""
    start = parse_hhmm(_setting(school, "quiet_start"))
    end = parse_hhmm(_setting(school, "quiet_end"))
    t = when.astimezone(LOCAL_TZ).time()
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def _next_school_day(day: date, holidays) -> date:
    """The first school day strictly after `day`."""
    for _ in range(_MAX_DAYS):
        day += timedelta(days=1)
        if is_school_day(day, holidays):
            return day
    raise ValueError("no school day within 400 days - check the holidays")


def release_at(when: datetime, school, holidays=()) -> datetime:
    """The earliest moment at or after `when` at which a push may go out."""
    when = _utc(when)
    day = when.astimezone(LOCAL_TZ).date()
    if is_school_day(day, holidays) and not is_quiet_time(when, school):
        return when
    quiet_end = _setting(school, "quiet_end")
    if is_school_day(day, holidays):
        end_today = at_local(day, quiet_end)
        if when < end_today:  # early-morning part of the quiet hours
            return _utc(end_today)
    return _utc(at_local(_next_school_day(day, holidays), quiet_end))


def first_push_at(received_at: datetime, school, holidays=()) -> datetime:
    """When the receivers (or, if they are away, the backups) are first pushed for a signal."""
    return release_at(received_at, school, holidays)


def escalation_at(received_at: datetime, school, holidays=()) -> datetime:
    """When the backups are pushed for a signal that is still unopened."""
    received_at = _utc(received_at)
    local = received_at.astimezone(LOCAL_TZ)
    day = local.date()
    esc_time = _setting(school, "escalation_time")
    delay = timedelta(minutes=int(_setting(school, "escalation_delay_minutes")))
    if is_school_day(day, holidays):
        escalate_today = at_local(day, esc_time)
        if received_at < escalate_today:
            return release_at(escalate_today, school, holidays)
        if received_at < at_local(day, SCHOOL_DAY_END):
            return release_at(received_at + delay, school, holidays)
    return release_at(at_local(_next_school_day(day, holidays), esc_time), school, holidays)


def note_push_at(assigned_at: datetime, school, holidays=()) -> datetime:
    """When the teacher is pushed about a note assigned to them."""
    return release_at(assigned_at, school, holidays)
