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


def escalated(db, signal_row: dict, now: datetime) -> bool:
    from . import escalation

    school = schools.get(db, signal_row["school_id"])
    due = escalation.escalation_at(parse(signal_row["received_at"]), school,
                                   signals.holidays(db, signal_row["school_id"]))
    return now >= due


def may_open(db, now: datetime, staff, signal_row: dict) -> bool:
    roles = set(staff.roles)
    if signal_row["school_id"] != staff.school_id:
        return False
    if "receiver" in roles:
        return True
    if "backup" in roles:
        return receivers_all_away(db, staff.school_id, now) or escalated(db, signal_row, now)
    return False
