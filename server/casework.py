"""The school's own steps after the reveal that the state machine does not need to know about:
the VO talk with the pupil first, the pupil's consent that the mentor may know, and the parent
contact as the handbook has it (seed 004 ch. 12 step 12, seed 003). No Flask here.

Why: in VO the zorgcoördinator speaks with the pupil before anyone else is told; the hand-over
copy must last until after that talk (the end of the school day, `schools.talk_until`), not 30
minutes. In PO the teacher contacts the parents when that is safe, and records only one of three
words - never the child's name - which the receiver then sees. "Nog niet" keeps a case open.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from . import schools, signals
from .clock import iso, local
from .db import write
from .schooltime import at_local

TEACHER_PARENT = {"spoken": "Ouders gesproken", "not_safe": "Niet gedaan: niet veilig",
                  "not_yet": "Nog niet"}
#: A talk started after the school's `talk_until` still gets this long.
MIN_TALK = timedelta(minutes=30)


def talk_until(school: dict, now: datetime) -> datetime:
    """Until when the hand-over copy waits for the talk with the pupil: that day's end."""
    until = at_local(local(now).date(), school.get("talk_until") or "16:30")
    return max(until, now + MIN_TALK)


def talk_first(db, now: datetime, signal_id: str) -> datetime:
    """'Ik spreek de leerling eerst': keep the hand-over copy until the end of the school day."""
    row = signals.get(db, signal_id)
    until = talk_until(schools.get(db, row["school_id"]), now)
    with write(db):
        if not signals.handover_available(db, signal_id):
            raise signals.HandoverGone("the hand-over copy no longer exists")
        cur = db.conn.execute(
            "UPDATE signals SET handover_until = ?, updated_at = ? WHERE id = ?"
            " AND state = 'opened' RETURNING id", (iso(until), iso(now), signal_id))
        if cur.fetchone() is None:
            raise signals.WrongState(signals.get(db, signal_id)["state"])
    return until


def pupil_agreed(db, signal_id: str) -> None:
    """The pupil wants the mentor to know: the note will say so. Set before the assignment."""
    with write(db):
        db.conn.execute("UPDATE signals SET pupil_agreed = 1 WHERE id = ? AND state = 'opened'",
                        (signal_id,))


def teacher_parents(db, now: datetime, signal_id: str, teacher_id: int, choice: str) -> None:
    """The teacher records the parent contact, only for a note they read; 'not_yet' may be
    changed later, the other two are final."""
    if choice not in TEACHER_PARENT:
        raise ValueError("unknown choice")
    with write(db):
        cur = db.conn.execute(
            "UPDATE signals SET teacher_parent_contact = ?, teacher_parent_contact_at = ?,"
            " updated_at = ? WHERE id = ? AND teacher_id = ? AND state = 'teacher_read'"
            " AND handled_how = 'note' AND COALESCE(teacher_parent_contact, 'not_yet') = 'not_yet'"
            " RETURNING id", (choice, iso(now), iso(now), signal_id, teacher_id))
        if cur.fetchone() is None:
            raise signals.NotFound("no such read note for this teacher")


def read_notes(db, teacher_id: int) -> list[dict]:
    """The notes a teacher read whose parent contact is still open (no personal data)."""
    return list(db.query(
        "SELECT id, assigned_at, teacher_informed_at, teacher_parent_contact FROM signals"
        " WHERE teacher_id = ? AND state = 'teacher_read' AND handled_how = 'note'"
        " AND COALESCE(teacher_parent_contact, 'not_yet') = 'not_yet'"
        " ORDER BY assigned_at, id", (teacher_id,)))


def parents_later(db, now: datetime, signal_id: str) -> None:
    """The receiver's 'Nog niet, dat volgt': the case stays open (it closes itself later, with
    a notice first) instead of closing at once."""
    with write(db):
        cur = db.conn.execute(
            "UPDATE signals SET parent_contact = 'later', updated_at = ? WHERE id = ?"
            " AND state = 'teacher_read' RETURNING id", (iso(now), signal_id))
        if cur.fetchone() is None:
            raise signals.WrongState(signals.get(db, signal_id)["state"])
