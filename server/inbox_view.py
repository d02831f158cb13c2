"""What the receiver's inbox says about each signal and case: numbered, oldest first, how long
it has waited, whether it escalated, is overdue or unread, and what it waits for. No Flask.

Every mark is derived from the stored times and the same rules that plan the pushes
(`escalation.py`, `followups.py`), so the inbox and the pushes never disagree. Nothing here
identifies the child: only times, states and staff names.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta

from . import escalation, followups, schools, schooltime, traces
from .clock import local, parse
from .db import snapshot
from .deadlines import Deadlines
from .dutch import day_name, time_of, weekday_time, when

#: What an open case waits for, in the order the inbox shows the groups.
GROUPS = (
    ("choice", "Wacht op jouw keuze: hoe hoort de leerkracht het?"),
    ("told", "Wacht tot jij het de leerkracht vertelt"),
    ("note", "Wacht tot de leerkracht het bericht leest"),
    ("parents", "Wacht op het contact met de ouders"),
)


def waited(since: str, now: datetime) -> str:
    """'12 min', '3 uur', '2 dagen': how long something has waited, in plain Dutch."""
    minutes = max(0, int((now - parse(since)).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} uur"
    return f"{minutes // (24 * 60)} dagen"






def _due(rule, *args) -> datetime | None:
    """A rule's moment, or None if the calendar makes it impossible (a holiday of a year):
    the inbox must still show the case, just without that mark."""
    try:
        return rule(*args)
    except ValueError:
        return None


#: The school's settings the time rules read (`escalation.py`, `followups.py`); with the
#: holidays they are the whole of a rule's input besides the stamp.
_SCHOOL_TIMES = ("start_time", "escalation_time", "escalation_delay_minutes", "quiet_start",
                 "quiet_end")


def _late_at(received: datetime, school, holidays) -> datetime:
    return schooltime.next_school_start(received, school["start_time"], holidays)


def _calendar_key(school, holidays) -> tuple:
    return tuple(school.get(k) for k in _SCHOOL_TIMES), tuple(holidays)


def _due_at(rule, stamp: str, calendar_key: tuple) -> datetime | None:
    """`_due` for a stored stamp, memoised: each inbox view walks the same oldest signals
    again, and a rule's answer only changes when the stamp, the school's times or its holidays
    do (all three are the key). Only times go in and out, never anything about a child."""
    return _due_memo(rule, stamp, *calendar_key)


@functools.lru_cache(maxsize=4096)
def _due_memo(rule, stamp: str, school_key: tuple, holidays: tuple) -> datetime | None:
    return _due(rule, parse(stamp), dict(zip(_SCHOOL_TIMES, school_key)), list(holidays))


def _past(moment, now: datetime) -> bool:
    return moment is not None and moment <= now


def _group(case: dict) -> str:
    if case["state"] == "opened":
        return "choice"
    if case["state"] == "teacher_assigned":
        return "note"
    if case["handled_how"] == "self" and not case["teacher_informed_at"]:
        return "told"
    return "parents"


#: Waiting signals per inbox page: the oldest first, so the page a phone loads stays small and
#: its cost flat however many signals wait (issue 14: 1,000 waiting made a 154 KB page).
PAGE_SIZE = 25


def pages(total: int, per_page: int = PAGE_SIZE) -> int:
    return max(1, -(-total // per_page))


def view(db, school_id: int, now: datetime,
         autoclose: timedelta = Deadlines().case_autoclose, page: int = 1,
         per_page: int = PAGE_SIZE) -> dict:
    """Everything the inbox page shows, computed once. Waiting signals are paged (`page`
    counts from 1 and is clamped); numbers continue across pages, so '26.' on page 2 is the
    26th oldest, and open cases are numbered after every waiting signal."""
    with snapshot(db):  # six reads, one lock and one consistent view (count and page agree)
        return _view(db, school_id, now, autoclose, page, per_page)


def _view(db, school_id: int, now: datetime, autoclose: timedelta, page: int,
          per_page: int) -> dict:
    school, holidays = schools.calendar(db, school_id)
    total = waiting_count(db, school_id)
    page = min(max(1, page), pages(total, per_page))
    offset = (page - 1) * per_page
    waiting, key = [], _calendar_key(school, holidays)
    for number, row in enumerate(waiting_page(db, school_id, offset, per_page),
                                 start=offset + 1):
        stamp = row["received_at"]
        escalated = _past(_due_at(escalation.escalation_at, stamp, key), now)
        to_director = _past(_due_at(followups.director_at, stamp, key), now)
        late = _past(_due_at(_late_at, stamp, key), now)
        waiting.append(dict(row, number=number, when=when(row["received_at"], now),
                            waited=waited(row["received_at"], now), escalated=escalated,
                            to_director=to_director, late=late))
    cases = []
    for number, row in enumerate(open_case_rows(db, school_id), start=total + 1):
        case = dict(row, number=number, when=when(row["received_at"], now),
                    group=_group(row), unread=False, overdue=False,
                    read_at=time_of(row["teacher_informed_at"]))
        if row["state"] == "teacher_assigned" and row["assigned_at"]:
            case["unread"] = _past(_due(followups.note_unread_at, row["assigned_at"], school,
                                        holidays), now)
            case["since"] = weekday_time(row["assigned_at"])
            case["waited"] = waited(row["assigned_at"], now)
        if case["group"] == "told" and row.get("told_due_at"):
            case["told_due"] = local(parse(row["told_due_at"])).strftime("%H:%M")
            case["overdue"] = parse(row["told_due_at"]) <= now
        if row["state"] in ("opened", "teacher_read"):
            case["closes"] = when(followups.closes_at(row, autoclose), now)
            case["closing_soon"] = _past(_due(followups.case_closing_at, row, autoclose,
                                              school, holidays), now)
        cases.append(case)
    groups = [(key, label, [c for c in cases if c["group"] == key]) for key, label in GROUPS]
    shown = [dict(t, day=day_name(t["received_at"])) for t in traces.for_school(db, school_id,
                                                                              now)]
    return {"waiting": waiting, "groups": [g for g in groups if g[2]], "cases": cases,
            "traces": shown, "school": school, "start_time": school["start_time"],
            "waiting_total": total,
            "page": page, "pages": pages(total, per_page)}


# --- the lists themselves (read-only queries over signals) ----------------------------------

def waiting_signals(db, school_id: int) -> list[dict]:
    """Signals nobody has opened yet, oldest first."""
    return list(db.query(
        "SELECT id, school_id, received_at FROM signals WHERE school_id = ? AND state = 'received'"
        " ORDER BY received_at, id", (school_id,)))


def waiting_count(db, school_id: int) -> int:
    return db.conn.execute("SELECT count(*) FROM signals WHERE school_id = ? AND state = 'received'",
                           (school_id,)).fetchone()[0]


def waiting_page(db, school_id: int, offset: int, limit: int) -> list[dict]:
    """One page of `waiting_signals` (same order), read from the index, not the whole list."""
    return list(db.query(
        "SELECT id, school_id, received_at FROM signals WHERE school_id = ? AND state = 'received'"
        " ORDER BY received_at, id LIMIT ? OFFSET ?", (school_id, limit, offset)))


def open_case_rows(db, school_id: int) -> list[dict]:
    """Opened cases still waiting for a choice, a teacher read, or a parent-contact record."""
    return list(db.query(
        "SELECT g.id, g.state, g.received_at, g.opened_at, g.assigned_at, g.handled_how,"
        " g.teacher_informed_at, g.told_due_at, t.display_name AS teacher_name,"
        " t.group_name AS teacher_group, o.display_name AS opened_by_name"
        " FROM signals g LEFT JOIN staff t ON t.id = g.teacher_id"
        " LEFT JOIN staff o ON o.id = g.opened_by"
        " WHERE g.school_id = ? AND g.state IN ('opened', 'teacher_assigned', 'teacher_read')"
        " ORDER BY g.received_at, g.id", (school_id,)))


def notes_for(db, teacher_id: int) -> list[dict]:
    """The unread notes addressed to one teacher."""
    return list(db.query(
        "SELECT id, assigned_at FROM signals WHERE teacher_id = ? AND state = 'teacher_assigned'"
        " ORDER BY assigned_at, id", (teacher_id,)))


# --- receipts ---------------------------------------------------------------------------------
