"""When things end: the deadlines of a signal's life, as pure functions of time and calendar.

The defaults and bounds are `config.DEADLINE_BOUNDS` (the one home of them); `Deadlines` holds
them as durations for the state machine and the sweep; `unopened_deadline` and `note_deadline`
adapt them to the school's calendar, so a holiday never makes a signal or note vanish unseen.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import schooltime
from .config import DEADLINE_BOUNDS


def _default(name: str) -> int:
    return DEADLINE_BOUNDS[name][0]


@dataclass(frozen=True)
class Deadlines:
    """The deadlines as durations; defaults are `config.DEADLINE_BOUNDS`, the one home of them."""
    unopened_expiry: timedelta = timedelta(days=_default("unopened_expiry_days"))
    note_unread_expiry: timedelta = timedelta(days=_default("note_unread_expiry_days"))
    case_autoclose: timedelta = timedelta(days=_default("case_autoclose_days"))
    receipt_purge: timedelta = timedelta(days=_default("receipt_purge_days"))
    handover: timedelta = timedelta(minutes=_default("handover_minutes"))

    @classmethod
    def from_config(cls, cfg) -> "Deadlines":
        return cls(
            unopened_expiry=timedelta(days=cfg.unopened_expiry_days),
            note_unread_expiry=timedelta(days=cfg.note_unread_expiry_days),
            case_autoclose=timedelta(days=cfg.case_autoclose_days),
            receipt_purge=timedelta(days=cfg.receipt_purge_days),
            handover=timedelta(minutes=cfg.handover_minutes),
        )


#: The longest a holiday can postpone the expiry of an unopened signal (a summer holiday has no
#: signals at all; Christmas is two weeks).
MAX_HOLIDAY_WAIT = timedelta(days=21)


def unopened_deadline(received: datetime, start_time: str, holidays_: list,
                      expiry: timedelta) -> datetime:
    """When an unopened signal expires: `expiry` after receipt, but never before one full day
    after the first school start following it — a signal that arrives at the start of a long
    holiday must still reach the school when it opens again, not silently expire unseen."""
    try:
        first_school_start = schooltime.next_school_start(received, start_time, holidays_)
    except ValueError:  # a calendar without school days: keep the plain deadline
        return received + expiry
    # Never more than MAX_HOLIDAY_WAIT past the plain deadline: a mistyped holiday of a year
    # must not keep a child's name for a year.
    return min(max(received + expiry, first_school_start + timedelta(days=1)),
               received + expiry + MAX_HOLIDAY_WAIT)


def note_deadline(assigned: datetime, holidays_: list, expiry: timedelta) -> datetime:
    """When an unread teacher note expires: `expiry` counted in school days (at least that much
    wall time), and never more than MAX_HOLIDAY_WAIT later than the plain deadline."""
    try:
        school_days = schooltime.add_school_days(assigned, expiry.days, holidays_)
    except ValueError:
        return assigned + expiry
    return min(max(assigned + expiry, school_days), assigned + expiry + MAX_HOLIDAY_WAIT)
