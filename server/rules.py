"""Who may open a signal. Pure rules over the database rows; no Flask.

The school's rules (documented in docs/school-rules.md):
- A receiver (intern begeleider / zorgcoördinator) may always open a waiting signal.
- A backup (achterwacht) may open it when (a) every active receiver is away (`afwezig tot …`
  in the future) or the school has no active receiver, or (b) the signal is still unopened at
  its escalation moment — the moment the backup is pushed (school escalation time on a school
  day, or the daytime delay after a signal that arrives during the school day).
Anyone else (teacher, director without one of these roles) never opens a signal.
"""
from __future__ import annotations

from datetime import datetime

from . import schools, signals
from .clock import iso, parse


def receivers_all_away(db, school_id: int, now: datetime) -> bool:
    rows = list(db.query(
        "SELECT s.away_until FROM staff s JOIN staff_roles r ON r.staff_id = s.id"
        " AND r.role = 'receiver' WHERE s.school_id = ? AND s.active = 1", (school_id,)))
    return all(r["away_until"] and r["away_until"] > iso(now) for r in rows)


def opener(db, now: datetime, staff):
    """A test `row -> may this person open it`, with what it needs looked up once (the inbox
    asks it for every waiting signal: no query per row)."""
    from . import escalation

    roles = set(staff.roles)
    if "receiver" in roles:
        return lambda row: row["school_id"] == staff.school_id
    if "backup" not in roles:
        return lambda row: False
    if receivers_all_away(db, staff.school_id, now):
        return lambda row: row["school_id"] == staff.school_id
    school = schools.get(db, staff.school_id)
    holidays = signals.holidays(db, staff.school_id)
    return lambda row: (row["school_id"] == staff.school_id and now >= escalation.escalation_at(
        parse(row["received_at"]), school, holidays))


def may_open(db, now: datetime, staff, signal_row: dict) -> bool:
    return opener(db, now, staff)(signal_row)
