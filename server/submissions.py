"""A municipality's submission of a signal: one domain function behind every door.

The API (`POST /api/v1/signals`) and any other way a municipality sends (a form, an upload)
call `submit`, so validation, the scope check, idempotency and sealing are the same everywhere.
Order matters and is part of the contract: a malformed signal is refused before anything is
looked up (422), then an unknown school (422), then a school outside the token's scope (403),
then a school where nobody can open a signal yet (422: no active or invited receiver or backup —
the municipality must use its agreed fallback rather than trust a signal nobody will read);
only then is anything written.
"""
from __future__ import annotations

from datetime import datetime

from . import access, devicekeys, intake, schools, signals
from .clock import local
from .deadlines import Deadlines

#: Said to the municipality (its IT and its officer), so plain and actionable; no school name.
NOBODY_TO_RECEIVE = ("nobody at this school can receive signals yet (no receiver or backup has "
                     "been set up); nothing was stored - use the agreed fallback to reach the school")


class OutOfScope(Exception):
    """The municipality may not send to that school (403)."""


def submit(db, now: datetime, *, municipality_id: int, payload: object,
           deadlines: Deadlines) -> tuple[dict, bool]:
    """Validate and store a signal, or recognise an idempotent retry: (row, created).

    Raises intake.Invalid, OutOfScope, signals.ReferenceSpent / ReferenceConflict, or a storage
    error (sqlite3.Error); none of their messages holds a submitted value.
    """
    clean = intake.validate(payload, local(now).date())
    # Reads one by one, not in a db.snapshot: measured, a snapshot here only added a read
    # transaction's BEGIN/COMMIT to every intake (bench/ingest.py) and nothing under load.
    school = schools.by_brin(db, clean.school)
    if school is None:
        raise intake.Invalid([{"field": "school", "message": "unknown school"}])
    if not access.municipality_may_send(db, municipality_id, school["id"]):
        raise OutOfScope(clean.school)
    # The rule of access.school_can_receive, read once: the intake seals to the same people.
    openers = devicekeys.openers(db, school["id"], now)
    if not openers.anyone:
        raise intake.Invalid([{"field": "school", "message": NOBODY_TO_RECEIVE}])
    calendar = (school, schools.holidays(db, school["id"]))
    child = signals.Child(name=clean.name, birth_date=clean.birth_date.isoformat())
    return signals.receive(db, now, municipality_id=municipality_id, school_id=school["id"],
                           reference=clean.reference, child=child, deadlines=deadlines,
                           calendar=calendar, openers=openers)
