"""Time, injected.

Every rule in this product is a deadline, so nothing reads the wall clock directly: the app and
the domain core take a clock object, and tests pass a `FakeClock` they can move by hand instead of
sleeping.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

#: Dutch schools live in one time zone; school times (08:30, quiet hours) are local wall time.
LOCAL_TZ = ZoneInfo("Europe/Amsterdam")

_FMT = "%Y-%m-%dT%H:%M:%SZ"


class SystemClock:
    """The real clock, in UTC, to the second."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc).replace(microsecond=0)


class FakeClock:
    """A clock tests set and advance; thread-safe so concurrency tests can share it."""

    def __init__(self, start: datetime | str = "2026-11-23T06:00:00Z"):
        self._lock = threading.Lock()
        self._now = parse(start) if isinstance(start, str) else start.astimezone(timezone.utc)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime | str) -> None:
        with self._lock:
            self._now = parse(when) if isinstance(when, str) else when.astimezone(timezone.utc)

    def advance(self, **delta) -> datetime:
        with self._lock:
            self._now = self._now + timedelta(**delta)
            return self._now


def iso(dt: datetime | None) -> str | None:
    """UTC timestamp as stored and shown in the API: fixed width, so text order is time order."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime(_FMT)


def parse(text: str | None) -> datetime | None:
    """A stored UTC timestamp ('2026-11-30T07:00:00Z') back into an aware datetime.

    The exact stored shape takes the fast path (`fromisoformat`, ~10x `strptime`: the inbox
    parses a few per row); anything else goes through strptime, which refuses it as before.
    """
    if text is None:
        return None
    if len(text) == 20 and text[10] == "T" and text[19] == "Z" and text[:19].isascii():
        return datetime.fromisoformat(text[:19]).replace(tzinfo=timezone.utc)
    return datetime.strptime(text, _FMT).replace(tzinfo=timezone.utc)


def local(dt: datetime) -> datetime:
    """The Dutch wall-clock time of a UTC instant."""
    return dt.astimezone(LOCAL_TZ)
