"""Readable at most once per person, applied to the teacher's note. Pure rules; no Flask, no SQL.

The person who opened a signal has read the name. A note to themselves (a receiver who is also
a teacher) would show it to them a second time, so it is refused: they already know, and the
receiver records "I tell the teacher myself" or picks someone else.

A note's life is counted from its FIRST assignment. Before, every reassign restarted the unread
deadline, so a note passed from teacher to teacher could live far past its hard limit.
"""
from __future__ import annotations

from datetime import datetime

from . import schools
from .clock import iso, parse
from .deadlines import note_deadline


class AlreadyKnows(ValueError):
    """The chosen teacher is the person who opened the signal (no personal data in the text)."""


def refuse_note_to_opener(signal_row: dict, teacher_id: int) -> None:
    """Raise AlreadyKnows when the note would go to the person who revealed the signal."""
    if signal_row.get("opened_by") is not None and signal_row["opened_by"] == teacher_id:
        raise AlreadyKnows("the person who opened the signal already knows")


def life_start(signal_row: dict, now: datetime) -> datetime:
    """When the note's unread deadline is counted from: its first assignment, whatever came after
    (rows assigned before the column existed fall back to the last assignment)."""
    stamp = signal_row.get("first_assigned_at") or signal_row.get("assigned_at")
    return parse(stamp) if stamp else now


def reassigned_expiry(db, signal_row: dict, now: datetime, deadlines) -> str:
    """The unread deadline after a reassign: counted from the first assignment (never later than
    the deadline the note already had), so passing a note on never extends its life."""
    first = life_start(signal_row, now)
    fresh = iso(note_deadline(first, schools.holidays(db, signal_row["school_id"]),
                              deadlines.note_unread_expiry))
    return min(signal_row["expires_at"] or fresh, fresh)
