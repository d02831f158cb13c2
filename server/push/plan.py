"""Who is pushed when: turns waiting signals and unread notes into `push_jobs` rows once each
event is due. `escalation.py` decides the moments (pure); this module decides the people and
writes the jobs. Nothing here sends anything."""
from __future__ import annotations

import functools
import json
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


def _insert_jobs(db, rows: list[tuple]) -> int:
    """All jobs of one plan in one statement (rows: signal, staff, event, due), so the number
    of statements does not grow with the number of jobs or waiting signals."""
    if not rows:
        return 0
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO push_jobs (signal_id, staff_id, event, due_at, next_attempt_at)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[3]')"
        " FROM json_each(?)", (json.dumps(rows),))
    return cur.rowcount


#: Only signals of schools where someone holds a push device can lead to a job; the others are
#: not even read, so a plan costs what the schools with a device-holder cost (issue 14).
_PUSHABLE = (" AND s.school_id IN (SELECT st.school_id FROM staff st"
             " JOIN push_subscriptions p ON p.staff_id = st.id WHERE st.active = 1)")


class _People:
    """Per-plan memo of who would be pushed per school: one set of role queries per school
    with a device-holder, not per waiting signal."""

    def __init__(self, db, now: datetime):
        self.db, self.now, self._cache = db, now, {}

    def __call__(self, kind, school_id: int) -> list[int]:
        key = (kind, school_id)
        if key not in self._cache:
            self._cache[key] = kind(self.db, school_id, self.now)
        return self._cache[key]


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


def _due_rows(rows, rule, column: str, schools, now: datetime) -> list[tuple[dict, datetime]]:
    """The rows whose push by `rule` is due at `now`, with that moment, in the given order.

    Per school, a rule's moment never goes down when the stamp goes up (each is "the first
    allowed moment at or after a time derived from the stamp"), so the due rows are a prefix of
    the school's rows sorted by stamp: found by bisection with O(log n) rule evaluations, and
    only the due ones are computed in full. That keeps a plan that finds nothing due cheap with
    thousands of waiting signals (issue 14). A calendar on which a rule gives up (ValueError:
    more than a year of holidays) is not monotone: that school's rows are all computed."""
    by_school: dict[int, list] = {}
    for row in rows:
        by_school.setdefault(row["school_id"], []).append(row)
    due_ids: set = set()
    for school_id, group in by_school.items():
        school, holidays = schools(school_id)
        group.sort(key=lambda r: r[column])
        try:
            lo, hi = 0, len(group)  # invariant: group[:lo] due, group[hi:] not due
            while lo < hi:
                mid = (lo + hi) // 2
                if rule(parse(group[mid][column]), school, list(holidays)) <= now:
                    lo = mid + 1
                else:
                    hi = mid
            due_ids.update(r["id"] for r in group[:lo])
        except ValueError:
            due_ids.update(r["id"] for r in group
                           if _due(rule, r[column], school, holidays) <= now)
    out = []
    for row in rows:
        if row["id"] in due_ids:
            school, holidays = schools(row["school_id"])
            out.append((row, _due(rule, row[column], school, holidays)))
    return out


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


#: A teacher's follow-up is per teacher: a note sent on to another teacher (ill, no access)
#: reminds the new one too.
_SAME_TEACHER = " AND j.staff_id = s.teacher_id"


def _followups(db, now: datetime, schools, deadlines: Deadlines, people: _People) -> list:
    """The follow-up pushes due at `now` (issue 12: nothing falls silently through a crack)."""
    todo = []
    for event, state, extra, rule, column, who in _FOLLOWUPS:
        for sig, due in _due_rows(list(db.query(
                f"SELECT s.id, s.school_id, s.teacher_id, s.{column} AS stamp FROM signals s"
                f" WHERE s.state = ?{extra} AND s.{column} IS NOT NULL AND NOT EXISTS"
                f" (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id AND j.event = ?"
                f"{_SAME_TEACHER if who == 'teacher' else ''}){_PUSHABLE}",
                (state, event))), rule, "stamp", schools, now):
            if who == "teacher":
                who_ids = [sig["teacher_id"]] if sig["teacher_id"] else []
            elif who == "director":
                who_ids = people(director_recipients, sig["school_id"])
            else:
                who_ids = people(new_signal_recipients, sig["school_id"])
            todo.append((sig["id"], who_ids, event, due))
    for sig in list(db.query(
            "SELECT s.id, s.school_id, s.opened_at, s.assigned_at FROM signals s"
            " WHERE s.state IN ('opened', 'teacher_read') AND NOT EXISTS (SELECT 1 FROM"
            f" push_jobs j WHERE j.signal_id = s.id AND j.event = 'case_closing'){_PUSHABLE}")):
        school, holidays = schools(sig["school_id"])
        try:
            due = followups.case_closing_at(sig, deadlines.case_autoclose, school, holidays)
        except ValueError:
            due = now
        if due <= now:
            todo.append((sig["id"], people(new_signal_recipients, sig["school_id"]),
                         "case_closing", due))
    return todo


def plan(db, now: datetime, deadlines: Deadlines | None = None) -> dict:
    """Create the push jobs that are due at `now`; idempotent (each event once per person).

    Recipients are chosen when the push is due, not when the signal arrived: a receiver who is
    away until Monday 09:00 is skipped for a signal held from Friday night to Monday 06:30.
    """
    schools = Calendars(db)
    planned = 0
    # Decide with reads only; take the write lock only when there is something to write, so a
    # sweep or kick with nothing due never holds up incoming signals. INSERT OR IGNORE on the
    # UNIQUE key keeps it idempotent if two planners race; delivery drops jobs whose signal was
    # opened in between.
    todo: list[tuple[str, list, str, datetime]] = []
    people = _People(db, now)
    for sig, due in _due_rows(list(db.query(
            "SELECT id, school_id, received_at FROM signals s WHERE state = 'received'"
            " AND NOT EXISTS (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id"
            f" AND j.event = 'new'){_PUSHABLE}")), escalation.first_push_at, "received_at",
            schools, now):
        todo.append((sig["id"], people(new_signal_recipients, sig["school_id"]), "new", due))
    escalating = _due_rows(list(db.query(
        "SELECT id, school_id, received_at FROM signals s WHERE state = 'received'"
        " AND NOT EXISTS (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id"
        f" AND j.event = 'escalate'){_PUSHABLE}")), escalation.escalation_at, "received_at",
        schools, now)
    if escalating:
        # Who already had a push for these signals: one query for all of them.
        already: dict[str, set] = {}
        for r in db.query(
                "SELECT signal_id, staff_id FROM push_jobs WHERE signal_id IN"
                " (SELECT value FROM json_each(?))",
                (json.dumps([sig["id"] for sig, _due_at in escalating]),)):
            already.setdefault(r["signal_id"], set()).add(r["staff_id"])
        for sid, staff_ids, _e, _d in todo:
            already.setdefault(sid, set()).update(staff_ids)
        for sig, due in escalating:
            seen = already.get(sig["id"], set())
            backups = [b for b in people(escalation_recipients, sig["school_id"])
                       if b not in seen]
            todo.append((sig["id"], backups, "escalate", due))
    for sig in list(db.query(
            "SELECT s.id, s.school_id, s.assigned_at, s.teacher_id FROM signals s"
            " JOIN staff st ON st.id = s.teacher_id AND st.active = 1"
            " WHERE s.state = 'teacher_assigned' AND NOT EXISTS (SELECT 1 FROM push_jobs j"
            " WHERE j.signal_id = s.id AND j.staff_id = s.teacher_id AND j.event = 'note')"
            + _PUSHABLE)):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.note_push_at, sig["assigned_at"], school, holidays)
        if due <= now:
            todo.append((sig["id"], [sig["teacher_id"]], "note", due))
    todo += _followups(db, now, schools, deadlines or Deadlines(), people)
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
            planned = _insert_jobs(db, [(signal_id, staff_id, event, iso(due))
                                        for signal_id, staff_ids, event, due in todo
                                        for staff_id in staff_ids])
    return {"push_planned": planned, "push_jobs_cleaned": cleaned}
