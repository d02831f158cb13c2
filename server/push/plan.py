"""Who is pushed when: turns waiting signals and unread notes into `push_jobs` rows once each
event is due. `escalation.py` decides the moments (pure); this module decides the people and
writes the jobs. Nothing here sends anything."""
from __future__ import annotations

import functools
import logging
from datetime import datetime

from .. import escalation, followups, staff
from ..clock import iso, parse
from ..db import write
from ..deadlines import Deadlines
from ..schools import Calendars

log = logging.getLogger("hwc.push")

def _ids(rows) -> list[int]:
    return list(dict.fromkeys(r["id"] for r in rows))


def new_signal_recipients(db, school_id: int, now: datetime) -> list[int]:
    """The receivers who are present; if every receiver is away (or there is none), the present
    backups; if everyone is away, everyone - a missed signal is worse than a disturbed day off."""
    receivers = staff.with_role(db, school_id, "receiver")
    backups = staff.with_role(db, school_id, "backup")
    for group in (staff.present(receivers, now), staff.present(backups, now), receivers + backups):
        if group:
            return _ids(group)
    return []


def escalation_recipients(db, school_id: int, now: datetime) -> list[int]:
    """The present backups (all backups if every one is away)."""
    backups = staff.with_role(db, school_id, "backup")
    return _ids(staff.present(backups, now) or backups)


def _insert_jobs(db, signal_id: str, staff_ids, event: str, due: datetime) -> int:
    count = 0
    for staff_id in staff_ids:
        cur = db.conn.execute(
            "INSERT OR IGNORE INTO push_jobs (signal_id, staff_id, event, due_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?)", (signal_id, staff_id, event, iso(due), iso(due)))
        count += cur.rowcount
    return count


_SCHOOL_TIMES = ("start_time", "escalation_time", "escalation_delay_minutes", "quiet_start",
                 "quiet_end")


def _due(rule, stamp: str, school, holidays) -> datetime:
    """A push time by `rule`; if the school's calendar makes it impossible (a holiday that
    covers more than a year), push at once rather than never."""
    key = tuple(school.get(k) for k in _SCHOOL_TIMES)
    return _due_cached(rule, stamp, key, tuple(holidays))


@functools.lru_cache(maxsize=4096)
def _due_cached(rule, stamp: str, school_key: tuple, holidays: tuple) -> datetime:
    """Memo of the pure schedule rules: every plan looks at every waiting signal, and the
    answer only changes when the school's times or holidays do (they are part of the key)."""
    school = dict(zip(_SCHOOL_TIMES, school_key))
    try:
        return rule(parse(stamp), school, list(holidays))
    except ValueError:
        log.error("push time could not be computed for a school; sending without delay")
        return parse(stamp)


def director_recipients(db, school_id: int, now: datetime) -> list[int]:
    """The present directors (all directors if every one is away)."""
    directors = staff.with_role(db, school_id, "director")
    return _ids(staff.present(directors, now) or directors)


#: Follow-up events: (event, states, extra condition, rule, stamp column, who). The rule turns
#: the stamp into the push moment (`followups.py`); `who` picks the people when it is due.
_FOLLOWUPS = (
    ("director", "received", "", followups.director_at, "received_at", "director"),
    ("note_reminder", "teacher_assigned", "", followups.note_reminder_at, "assigned_at",
     "teacher"),
    ("note_unread", "teacher_assigned", "", followups.note_unread_at, "assigned_at", "receiver"),
    ("note_deadline", "teacher_assigned", "", followups.note_deadline_at, "expires_at",
     "receiver"),
    ("told_reminder", "teacher_read",
     " AND s.handled_how = 'self' AND s.teacher_informed_at IS NULL AND s.told_due_at IS NOT NULL",
     followups.told_reminder_at, "told_due_at", "receiver"),
)


def _followups(db, now: datetime, schools, deadlines: Deadlines) -> list:
    """The follow-up pushes due at `now` (issue 12: nothing falls silently through a crack)."""
    todo = []
    for event, state, extra, rule, column, who in _FOLLOWUPS:
        for sig in list(db.query(
                f"SELECT s.id, s.school_id, s.teacher_id, s.{column} AS stamp FROM signals s"
                f" WHERE s.state = ?{extra} AND s.{column} IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id AND j.event = ?)",
                (state, event))):
            school, holidays = schools(sig["school_id"])
            due = _due(rule, sig["stamp"], school, holidays)
            if due > now:
                continue
            if who == "teacher":
                people = [sig["teacher_id"]] if sig["teacher_id"] else []
            elif who == "director":
                people = director_recipients(db, sig["school_id"], now)
            else:
                people = new_signal_recipients(db, sig["school_id"], now)
            todo.append((sig["id"], people, event, due))
    for sig in list(db.query(
            "SELECT s.id, s.school_id, s.opened_at, s.assigned_at FROM signals s"
            " WHERE s.state IN ('opened', 'teacher_read') AND NOT EXISTS (SELECT 1 FROM"
            " push_jobs j WHERE j.signal_id = s.id AND j.event = 'case_closing')")):
        school, holidays = schools(sig["school_id"])
        try:
            due = followups.case_closing_at(sig, deadlines.case_autoclose, school, holidays)
        except ValueError:
            due = now
        if due <= now:
            todo.append((sig["id"], new_signal_recipients(db, sig["school_id"], now),
                         "case_closing", due))
    return todo


def plan(db, now: datetime, deadlines: Deadlines | None = None) -> dict:
    """Create the push jobs that are due at `now`; idempotent (each event once per person).

    Recipients are chosen when the push is due, not when the signal arrived: a receiver who is
    away until Monday 09:00 is skipped for a signal held from Friday night to Monday 06:30.
    """
    schools = Calendars(db)
    planned = {"new": 0, "escalate": 0, "note": 0}
    planned.update(dict.fromkeys(followups.FOLLOWUP_EVENTS, 0))
    # Decide with reads only; take the write lock only when there is something to write, so a
    # sweep or kick with nothing due never holds up incoming signals. INSERT OR IGNORE on the
    # UNIQUE key keeps it idempotent if two planners race; delivery drops jobs whose signal was
    # opened in between.
    todo: list[tuple[str, list, str, datetime]] = []
    for sig in list(db.query(
            "SELECT id, school_id, received_at FROM signals s WHERE state = 'received'"
            " AND NOT EXISTS (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id"
            " AND j.event = 'new')")):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.first_push_at, sig["received_at"], school, holidays)
        if due <= now:
            todo.append((sig["id"], new_signal_recipients(db, sig["school_id"], now), "new", due))
    for sig in list(db.query(
            "SELECT id, school_id, received_at FROM signals s WHERE state = 'received'"
            " AND NOT EXISTS (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id"
            " AND j.event = 'escalate')")):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.escalation_at, sig["received_at"], school, holidays)
        if due <= now:
            already = {r["staff_id"] for r in db.query(
                "SELECT staff_id FROM push_jobs WHERE signal_id = ?", (sig["id"],))}
            already |= {person for sid, staff_ids, _e, _d in todo if sid == sig["id"]
                        for person in staff_ids}
            backups = [b for b in escalation_recipients(db, sig["school_id"], now)
                       if b not in already]
            todo.append((sig["id"], backups, "escalate", due))
    for sig in list(db.query(
            "SELECT s.id, s.school_id, s.assigned_at, s.teacher_id FROM signals s"
            " JOIN staff st ON st.id = s.teacher_id AND st.active = 1"
            " WHERE s.state = 'teacher_assigned' AND NOT EXISTS (SELECT 1 FROM push_jobs j"
            " WHERE j.signal_id = s.id AND j.staff_id = s.teacher_id AND j.event = 'note')")):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.note_push_at, sig["assigned_at"], school, holidays)
        if due <= now:
            todo.append((sig["id"], [sig["teacher_id"]], "note", due))
    todo += _followups(db, now, schools, deadlines or Deadlines())
    stale = db.conn.execute(
        "SELECT 1 FROM push_jobs WHERE signal_id IN (SELECT id FROM signals"
        " WHERE state IN ('closed', 'returned', 'expired')) LIMIT 1").fetchone()
    cleaned = 0
    # Only people with a device can be pushed: a job for someone without one could never be
    # delivered, and writing it would only hold up intake.
    with_device = {r[0] for r in db.conn.execute("SELECT DISTINCT staff_id FROM push_subscriptions")}
    todo = [(sid, [p for p in staff_ids if p in with_device], event, due)
            for sid, staff_ids, event, due in todo]
    todo = [t for t in todo if t[1]]
    if todo or stale:
        with write(db):
            # Jobs of ended signals are moot, and which staff were involved is forgotten.
            cleaned = db.conn.execute(
                "DELETE FROM push_jobs WHERE signal_id IN (SELECT id FROM signals"
                " WHERE state IN ('closed', 'returned', 'expired'))").rowcount
            for signal_id, staff_ids, event, due in todo:
                planned[event] += _insert_jobs(db, signal_id, staff_ids, event, due)
    return {"push_planned": sum(planned.values()), "push_jobs_cleaned": cleaned}
