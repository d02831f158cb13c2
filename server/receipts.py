"""What a municipality sees of its signals: the receipt, in its own vocabulary.

A receipt holds the reference, a status and times — never a name, birth date, school staff or
signal content — and is what the API, the webhooks and the send tool show. The internal states
of the state machine (`signals.STATES`) map onto fewer public ones here.
"""
from __future__ import annotations

from . import schools


def public_status(row: dict) -> str:
    """The receipt status the municipality sees (its vocabulary, not our internal states)."""
    state = row["state"]
    if state in ("opened", "teacher_assigned"):
        return "opened"
    if state == "teacher_read":
        return "teacher_informed" if row["teacher_informed_at"] else "opened"
    return state  # received, closed, returned, expired


def receipt(row: dict, contact: str | None = None) -> dict:
    return {
        "reference": row["reference"],
        "status": public_status(row),
        "received_at": row["received_at"],
        "notified_at": row["notified_at"],
        "opened_at": row["opened_at"],
        "teacher_informed_at": row["teacher_informed_at"],
        "closed_at": row["closed_at"],
    } | ({"school_contact": contact} if contact else {})


def school_contact(db, school_id: int) -> str | None:
    """The school's 'Contact voor de gemeente' (settings), or None when the school left it
    empty. Not personal data of a child: a school's phone number or shared mailbox."""
    school = schools.get(db, school_id)
    return (school or {}).get("receipt_contact") or None


def for_municipality(db, row: dict, _contacts: dict | None = None) -> dict:
    """The receipt with the school's optional contact: what the API and the webhooks send
    (issue 12: the contact a director saves must reach the municipality)."""
    contacts = {} if _contacts is None else _contacts
    if row["school_id"] not in contacts:
        contacts[row["school_id"]] = school_contact(db, row["school_id"])
    return receipt(row, contacts[row["school_id"]])


def many(db, rows: list[dict]) -> list[dict]:
    contacts: dict = {}
    return [for_municipality(db, r, contacts) for r in rows]


def by_reference(db, municipality_id: int, reference: str) -> dict | None:
    """A municipality's own signal by its reference (the receipt's key), or None."""
    rows = list(db.query("SELECT * FROM signals WHERE municipality_id = ? AND reference = ?",
                         (municipality_id, reference)))
    return rows[0] if rows else None


def changed_since(db, municipality_id: int, since: str, limit: int) -> list[dict]:
    """A municipality's signals whose receipt changed at or after `since`, oldest first."""
    return list(db.query(
        "SELECT * FROM signals WHERE municipality_id = ? AND updated_at >= ?"
        " ORDER BY received_at, reference LIMIT ?", (municipality_id, since, limit)))
