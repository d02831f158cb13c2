"""Who may see what: the one home of access scoping. Pure rules over database rows; no Flask.

Routes ask here and answer 404 (or 403 where the person may know the thing exists) — never a
hint that something of another school exists.

- A signal is visible to the receivers and backups of its school (`school_signal`); who may
  *open* a waiting one is `opener` / `may_open`:
  - a receiver (intern begeleider / zorgcoördinator) may always open it;
  - a backup (achterwacht) may open it when (a) every active receiver is away (`afwezig tot …`
    in the future) or the school has no active receiver, or (b) it is still unopened at its
    escalation moment — the moment the backup is pushed (`escalation.escalation_at`);
  - anyone else (teacher, director without one of these roles) never opens a signal.
- A note is readable only by the teacher it is assigned to (`signals.teacher_read` enforces it
  inside the transition, so a race cannot get round it; `notes_for` lists only one's own).
- A staff member's page is visible to the directors of their school (`staff_member`).
- A municipality may send to, and read receipts of, the schools it is linked to
  (`municipality_may_send`); a school accepts signals only when someone there can open them
  (`school_can_receive`).

The school's rules are documented in docs/school-rules.md.
"""
from __future__ import annotations

from datetime import datetime

from . import devicekeys, escalation, municipalities, schools, signals
from . import staff as staff_mod
from .clock import parse


class NotVisible(LookupError):
    """The thing does not exist for this person (another school's, or gone): answer 404."""


def school_signal(db, staff, signal_id: str) -> dict:
    """The signal if it belongs to `staff`'s school; else NotVisible (no hint it exists)."""
    try:
        row = signals.get(db, signal_id)
    except signals.NotFound:
        raise NotVisible(signal_id) from None
    if row["school_id"] != staff.school_id:
        raise NotVisible(signal_id)
    return row


def opener(db, now: datetime, staff):
    """A test `row -> may this person open it`, with what it needs looked up once (the inbox
    asks it for every waiting signal: no query per row)."""
    roles, school_id = set(staff.roles), staff.school_id
    if "receiver" in roles:
        return lambda row: row["school_id"] == school_id
    if "backup" not in roles:
        return lambda row: False
    if staff_mod.receivers_all_away(db, school_id, now):
        return lambda row: row["school_id"] == school_id
    school, holidays = schools.calendar(db, school_id)
    return lambda row: (row["school_id"] == school_id and now >= escalation.escalation_at(
        parse(row["received_at"]), school, holidays))


def may_open(db, now: datetime, staff, signal_row: dict) -> bool:
    return opener(db, now, staff)(signal_row)


def staff_member(db, director, staff_id: int) -> dict:
    """A person of the director's own school; NotVisible for anyone else."""
    person = staff_mod.get(db, staff_id, director.school_id)
    if person is None:
        raise NotVisible(staff_id)
    return person


def municipality_may_send(db, municipality_id: int, school_id: int) -> bool:
    """Whether a municipality's token may send signals to (and read receipts of) a school."""
    return municipalities.covers(db, municipality_id, school_id)


def school_can_receive(db, school_id: int, now: datetime) -> bool:
    """Whether anyone at the school can open a signal: an active person, or a pending (unused,
    unwithdrawn, unexpired) invite, holding the receiver or backup role.

    Without one a signal would be accepted and then expire unread a week later with nobody at
    school ever knowing — the municipality must hear at once (422) and use its agreed fallback.
    A pending invite counts: the school is onboarding and the person can enrol and open it.
    """
    return devicekeys.openers(db, school_id, now).anyone
