"""Tasks on a case: 'Ik vertel het zelf' is a promise the receiver keeps by tapping 'Verteld'.

Until issue 12 the promise was recorded as done: the receipt said teacher_informed in the same
second as opened, though nobody had told the teacher yet. Now the receipt's
`teacher_informed_at` is the moment of the tap, and a reminder follows if it does not come
(`followups.told_reminder_at`). No Flask here.
"""
from __future__ import annotations

from datetime import datetime

from . import signals
from .clock import iso
from .db import write


def told(db, now: datetime, signal_id: str) -> dict:
    """The receiver told the teacher in person: record it now, once."""
    stamp = iso(now)
    with write(db):
        cur = db.conn.execute(
            "UPDATE signals SET teacher_informed_at = ?, updated_at = ? WHERE id = ?"
            " AND state = 'teacher_read' AND handled_how = 'self'"
            " AND teacher_informed_at IS NULL RETURNING *", (stamp, stamp, signal_id))
        found = cur.fetchone()
        if found is None:
            current = signals.get(db, signal_id)  # raises NotFound
            raise signals.WrongState(current["state"], current)
        row = dict(zip([c[0] for c in cur.description], found))
        signals._emit(db, row, stamp)
        signals._count(db, row["school_id"], row["received_at"], "teacher_informed")
    return row


def pending(row: dict) -> bool:
    """True while a case waits for the receiver's 'Verteld'."""
    return (row["state"] == "teacher_read" and row["handled_how"] == "self"
            and not row["teacher_informed_at"])
