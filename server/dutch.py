"""Dutch wording of times and dates, without depending on the machine's locale."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from .clock import local, parse

DAYS = ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"]
MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december"]


def when(stamp: str | datetime | None, now: datetime) -> str:
    """'vandaag 07:12', 'gisteren 18:40', 'vrijdag 20 november 22:10'."""
    if stamp is None:
        return ""
    moment = local(parse(stamp) if isinstance(stamp, str) else stamp)
    today = local(now).date()
    clock_time = moment.strftime("%H:%M")
    if moment.date() == today:
        return f"vandaag {clock_time}"
    if moment.date() == today - timedelta(days=1):
        return f"gisteren {clock_time}"
    return f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} {clock_time}"


def time_of(stamp: str | None) -> str:
    return local(parse(stamp)).strftime("%H:%M") if stamp else ""


def date_time(stamp: str | None) -> str:
    """A stored UTC timestamp as Dutch wall-clock time, e.g. '26 november 2026 07:00'."""
    if not stamp:
        return ""
    moment = local(parse(stamp))
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} {moment.strftime('%H:%M')}"


def long_date(iso_date: str) -> str:
    """'2018-03-14' → '14 maart 2018'."""
    d = date.fromisoformat(iso_date)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def short_moment(stamp: str) -> str:
    """'3 dec 07:12'."""
    moment = local(parse(stamp))
    return f"{moment.day} {MONTHS[moment.month - 1][:3]} {moment.strftime('%H:%M')}"


def day_month(stamp: str) -> str:
    """'3 december'."""
    moment = local(parse(stamp))
    return f"{moment.day} {MONTHS[moment.month - 1]}"


def day_name(stamp: str) -> str:
    """'dinsdag 3 december' (the date a trace names: never a time that could single out a case)."""
    moment = local(parse(stamp))
    return f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]}"


def weekday_time(stamp: str) -> str:
    """'vrijdag 10:06'."""
    moment = local(parse(stamp))
    return f"{DAYS[moment.weekday()]} {moment.strftime('%H:%M')}"
