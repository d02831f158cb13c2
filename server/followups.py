"""Follow-ups: the moments at which somebody must hear that a child is still waiting. Pure time
rules (no Flask, no database) on top of `escalation.release_at`, so every follow-up push respects
quiet hours, weekends and holidays exactly like the first push does.

Why these moments (issue 12, seed 004 ch. 2/3/12): a note assigned on Friday 10:06 must not sit
unread over the weekend and expire on Wednesday without anyone at school noticing. So:

* ``note_reminder``  the teacher, an hour before the first school start after the assignment;
* ``note_unread``    the receiver (backup when the receiver is away), at that school start;
* ``note_deadline``  the receiver, a day before the note's hard deadline: tell the teacher in
                     person or send the note to someone else;
* ``director``       an unopened signal, an hour after the first school start after it arrived;
* ``told_reminder``  'Ik vertel het zelf' without a 'Verteld' tap by the promised school start;
* ``case_closing``   an unfinished case, two days before it closes itself.

Every rule takes stamps and the school's settings, and returns an aware UTC datetime.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from . import schooltime
from .clock import parse
from .escalation import release_at

#: How long before school start the teacher is reminded of an unread note.
REMINDER_BEFORE_START = timedelta(hours=1)
#: A note assigned less than this before a school start counts for the next one: a teacher who
#: got the note at 08:00 for an 08:30 start is not chased at 08:30.
MIN_NOTE_TIME = timedelta(hours=2)
#: After school start, an unopened signal goes to the director.
DIRECTOR_AFTER_START = timedelta(hours=1)
#: Warning before a note's hard deadline and before a case closes itself.
DEADLINE_WARNING = timedelta(days=1)
CLOSING_WARNING = timedelta(days=2)

FOLLOWUP_EVENTS = ("director", "note_reminder", "note_unread", "note_deadline",
                   "told_reminder", "case_closing")


def _start(school) -> str:
    return school.get("start_time") or "08:30"


def _stamp(value) -> datetime:
    return parse(value) if isinstance(value, str) else value


def note_school_start(assigned_at, school, holidays=()) -> datetime:
    """The school start by which the teacher should have read a note."""
    return schooltime.next_school_start(_stamp(assigned_at) + MIN_NOTE_TIME, _start(school),
                                        holidays)


def note_reminder_at(assigned_at, school, holidays=()) -> datetime:
    start = note_school_start(assigned_at, school, holidays)
    return release_at(start - REMINDER_BEFORE_START, school, holidays)


def note_unread_at(assigned_at, school, holidays=()) -> datetime:
    return release_at(note_school_start(assigned_at, school, holidays), school, holidays)


def note_deadline_at(expires_at, school, holidays=()) -> datetime:
    """A day before the note expires, held by the quiet rule but never after the expiry."""
    expires = _stamp(expires_at)
    due = release_at(expires - DEADLINE_WARNING, school, holidays)
    return min(due, expires - timedelta(minutes=1))


def director_at(received_at, school, holidays=()) -> datetime:
    start = schooltime.next_school_start(_stamp(received_at), _start(school), holidays)
    return release_at(start + DIRECTOR_AFTER_START, school, holidays)


def told_due(told_at, school, holidays=()) -> datetime:
    """'Vertel het vóór 08:30': the first school start after the receiver chose to tell it
    in person (during a school day, the next morning's start). A calendar without school days
    (a mistyped holiday) must not make the choice fail: then a day later."""
    try:
        return schooltime.next_school_start(_stamp(told_at), _start(school), holidays)
    except ValueError:
        return _stamp(told_at) + timedelta(days=1)


def told_reminder_at(told_due_at, school, holidays=()) -> datetime:
    return release_at(_stamp(told_due_at), school, holidays)


def closes_at(row: dict, autoclose: timedelta) -> datetime:
    """When the sweep closes an unfinished case (mirrors `expiry.sweep` step 4)."""
    return _stamp(row.get("assigned_at") or row["opened_at"]) + autoclose


def case_closing_at(row: dict, autoclose: timedelta, school, holidays=()) -> datetime:
    closes = closes_at(row, autoclose)
    due = release_at(closes - CLOSING_WARNING, school, holidays)
    return min(due, closes - timedelta(minutes=1))
