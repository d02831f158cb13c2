"""The life of a signal: a state machine of guarded, atomic transitions. No Flask here.

    received ─reveal─▶ opened ─assign─▶ teacher_assigned ─teacher reads─▶ teacher_read ─parent contact─▶ closed
       │                 ├─told in person / pupil declined ─────────────▶ teacher_read
       │                 └─not our pupil─▶ returned
       └─deadline─▶ expired            (teacher_assigned ─note unread deadline─▶ expired)

Every transition is one `UPDATE … WHERE id = ? AND state = ? RETURNING …` inside a
`BEGIN IMMEDIATE` transaction, together with the vault work it implies, so two people tapping
'open' at the same moment give exactly one reveal, and a crash leaves either the old or the new
state — never a half-shredded one. Every function takes `now` (a datetime): time is injected.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from . import (
    device_seal,
    devicekeys,
    followups,
    note_rules,
    phone_copies,
    receipts,
    schools,
    schooltime,
    vault,
)
from .clock import iso, local, parse
from .db import write
from .deadlines import Deadlines, note_deadline, unopened_deadline

STATES = ("received", "opened", "teacher_assigned", "teacher_read", "closed", "returned", "expired")
ENDED = ("closed", "returned", "expired")
HANDLED_HOW = ("note", "self", "pupil_declined")
PARENT_CONTACT = ("by_teacher", "by_me", "later", "deliberately_not")

# The counters that survive a case (anonymous, per school per month of receipt).
METRICS = ("received", "opened", "opened_before_start", "teacher_informed", "returned",
           "expired", "closed")


class SignalError(Exception):
    """Base of the domain's refusals. Messages never contain personal data."""


class NotFound(SignalError):
    pass


class WrongState(SignalError):
    def __init__(self, state: str, row: dict | None = None):
        super().__init__(f"signal is {state}")
        self.state = state
        self.row = row or {}


class ReferenceConflict(SignalError):
    """The same municipality reference was sent before with other content."""


class ReferenceSpent(ReferenceConflict):
    """The reference belongs to a signal that was already opened or has ended: its content can
    no longer be compared (the fingerprint is destroyed at the reveal), so a new signal under
    this reference would otherwise be mistaken for a retry and silently dropped."""


class HandoverGone(SignalError):
    """The receiver's hand-over copy was already used or destroyed."""


class Unreadable(SignalError):
    """The sealed copy has no key any more (hwc.db restored without keys.db): crypto-shredded."""


@dataclass(frozen=True)
class Child:
    """The personal data, only ever held in memory on its way to one screen."""
    name: str
    birth_date: str

    def to_bytes(self) -> bytes:
        return json.dumps({"name": self.name, "birth_date": self.birth_date},
                          ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Child":
        obj = json.loads(data)
        return cls(name=obj["name"], birth_date=obj["birth_date"])

    def __repr__(self) -> str:  # never let a name slip into a traceback or log line
        return "Child(<sealed>)"


# --- helpers ----------------------------------------------------------------------------------

def _one(db: sqlite_utils.Database, sql: str, params=()) -> dict | None:
    rows = list(db.query(sql, params))
    return rows[0] if rows else None


def get(db: sqlite_utils.Database, signal_id: str) -> dict:
    row = _one(db, "SELECT * FROM signals WHERE id = ?", (signal_id,))
    if row is None:
        raise NotFound("no such signal")
    return row


def _transition(db, signal_id: str, from_states: tuple[str, ...], sets: dict) -> dict:
    """The one guarded UPDATE every transition goes through. Must run inside write()."""
    assignments = ", ".join(f"{col} = :set_{col}" for col in sets)
    placeholders = ", ".join(f":from{i}" for i in range(len(from_states)))
    params = {f"set_{col}": value for col, value in sets.items()}
    params.update({f"from{i}": s for i, s in enumerate(from_states)}, signal_id=signal_id)
    cur = db.conn.execute(
        f"UPDATE signals SET {assignments} WHERE id = :signal_id AND state IN ({placeholders})"
        " RETURNING *",
        params,
    )
    row = cur.fetchone()
    if row is None:
        current = _one(db, "SELECT * FROM signals WHERE id = ?", (signal_id,))
        if current is None:
            raise NotFound("no such signal")
        raise WrongState(current["state"], current)
    return dict(zip([c[0] for c in cur.description], row))


def _month(received_at: str) -> str:
    return local(parse(received_at)).strftime("%Y-%m")


def _count(db, school_id: int, received_at: str, metric: str) -> None:
    db.conn.execute(
        "INSERT INTO monthly_counts (school_id, month, metric, value) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (school_id, month, metric) DO UPDATE SET value = value + 1",
        (school_id, _month(received_at), metric),
    )


def _emit(db, row: dict, stamp: str) -> None:
    """Queue the new receipt for the municipality's webhook, in the same transaction as the
    transition (an outbox), so no change is lost and each is sent once, in order. Only if the
    municipality registered a webhook; the receipt holds no personal data."""
    db.conn.execute(
        "INSERT INTO receipt_events (municipality_id, reference, status, receipt, created_at,"
        " next_attempt_at) SELECT id, ?, ?, ?, ?, ? FROM municipalities"
        " WHERE id = ? AND webhook_url IS NOT NULL",
        (row["reference"], receipts.public_status(row),
         json.dumps(receipts.for_municipality(db, row)), stamp, stamp, row["municipality_id"]))


def _end(db, row: dict) -> None:
    """What every ending shares: destroy all sealed data and forget which staff were involved."""
    vault.shred(db.conn, row["id"])
    db.conn.execute(
        "UPDATE signals SET opened_by = NULL, teacher_id = NULL WHERE id = ?", (row["id"],))


# --- intake -----------------------------------------------------------------------------------

def _intake_bytes(school_id: int, child: Child) -> bytes:
    return json.dumps({"school": school_id, "child": child.to_bytes().decode()},
                      sort_keys=True).encode()


def _note_expiry(db, school_id: int, now: datetime, deadlines: "Deadlines") -> str:
    return iso(note_deadline(now, schools.holidays(db, school_id), deadlines.note_unread_expiry))


def _seal_to_phones(signal_id: str, child: Child,
                    found: devicekeys.Openers) -> tuple[list[dict], bool]:
    """One entry per phone of those who may open it, and whether the server keeps a copy it
    can read too. A phone key that cannot be sealed to (it was checked when stored, so only a
    damaged row) is left out and the server keeps its copy: the signal still arrives."""
    entries, server_copy = [], found.needs_server_copy
    for key in found.keys:
        try:
            entries.append(device_seal.seal(key, child.to_bytes(), device_seal.aad(signal_id)))
        except ValueError:
            server_copy = True
    return entries, server_copy


def receive(db, now: datetime, *, municipality_id: int, school_id: int, reference: str,
            child: Child, deadlines: "Deadlines | None" = None,
            calendar: tuple[dict, list] | None = None,
            openers: devicekeys.Openers | None = None) -> tuple[dict, bool]:
    """Store a new signal sealed, or recognise an idempotent retry. Returns (row, created).

    `calendar` (`schools.calendar` of the school) and `openers` (`devicekeys.openers` for it, at
    `now`) may be passed when the caller has just read them: the API's intake does, for its 403
    and 422 rules. Under the write lock the openers are read again
    anyway when only phones will hold the signal.
    """
    deadlines = deadlines or Deadlines()
    content = _intake_bytes(school_id, child)
    # Everything that needs no lock is done before the write lock is taken: under load each
    # statement inside it gives up the GIL and waits for it again while the next writers queue
    # (docs/performance.md, Load). The calendar only sets the deadline; the row is new or not.
    # Sealing to the phones is CPU (one ECDH each), so it is done here too, and checked again
    # under the lock when only phones will hold it: a passkey revoked or a role changed in
    # between must not leave a signal nobody can open (the sweep could have run meanwhile).
    signal_id, stamp = secrets.token_urlsafe(16), iso(now)
    if calendar is None or calendar[0]["id"] != school_id:
        calendar = schools.calendar(db, school_id)
    school, holidays = calendar
    expires = unopened_deadline(now, school["start_time"], holidays, deadlines.unopened_expiry)
    found = openers if openers is not None else devicekeys.openers(db, school_id, now)
    entries, server_copy = _seal_to_phones(signal_id, child, found)
    with write(db):
        row = _one(db, "INSERT INTO signals (id, school_id, municipality_id, reference, state,"
                   " received_at, updated_at, expires_at) VALUES (?, ?, ?, ?, 'received', ?, ?, ?)"
                   " ON CONFLICT (municipality_id, reference) DO NOTHING RETURNING *",
                   (signal_id, school_id, municipality_id, reference, stamp, stamp, iso(expires)))
        if row is None:  # the reference is known: an idempotent retry, or a conflict
            existing = _one(db, "SELECT * FROM signals WHERE municipality_id = ? AND reference = ?",
                            (municipality_id, reference))
            if existing["school_id"] != school_id:
                raise ReferenceConflict("reference already used for other content")
            same = vault.matches_intake(db.conn, existing["id"], content)
            if same is None:
                raise ReferenceSpent("reference belongs to a signal already opened or ended")
            if same is False:
                raise ReferenceConflict("reference already used for other content")
            return existing, False
        if entries and not server_copy:
            still = devicekeys.openers(db, school_id, now)
            if still != found:
                entries, server_copy = _seal_to_phones(signal_id, child, still)
        if entries:
            vault.seal_entries(db.conn, signal_id, "receiver_devices", entries, stamp)
        if server_copy:  # someone who can open it has no phone key (yet): ADR 0013
            vault.seal(db.conn, signal_id, "receiver", child.to_bytes(), stamp)
        vault.remember_intake(db.conn, signal_id, content)
        _count(db, school_id, stamp, "received")
        return row, True


# --- the receiver's transitions ---------------------------------------------------------------

@dataclass(frozen=True)
class Reveal:
    """What one view shows: `child` when the server could read its copy, else `sealed`, the
    entry for the phone that just proved itself (the page decrypts it; device_seal)."""
    signal: dict
    child: Child | None = None
    sealed: dict | None = None


def reveal(db, now: datetime, signal_id: str, staff_id: int, phone: bytes | None = None) -> Reveal:
    """received → opened, exactly once. The receiver's copy becomes a sealed hand-over.

    `phone` is the public key of the phone whose passkey just confirmed the view: if the signal
    was sealed to it, that entry is the view (and the hand-over), and every other copy — the
    other phones' and any the server could read — is destroyed in the same transaction.
    Raises WrongState (with the row, so the page can say who opened it when) for the loser of a
    race, a second tab, or a reload; NotForThisPhone (nothing changed) when only phones hold it
    and this is not one of them.
    """
    stamp = iso(now)
    with write(db):
        row = _transition(db, signal_id, ("received",),
                          {"state": "opened", "opened_at": stamp, "opened_by": staff_id,
                           "updated_at": stamp})
        entries = vault.open_entries(db.conn, signal_id, "receiver_devices")
        mine, child = phone_copies.entry_for(entries, phone), None
        if mine is not None:
            vault.seal_entries(db.conn, signal_id, "handover_device", [mine], stamp)
        else:
            try:
                child = Child.from_bytes(vault.unseal(db.conn, signal_id, "receiver"))
            except vault.VaultError:
                if entries:  # rolls the transition back: the view is not spent
                    raise phone_copies.NotForThisPhone("sealed to other phones") from None
                raise Unreadable("the sealed copy cannot be opened any more") from None
            vault.seal(db.conn, signal_id, "handover", child.to_bytes(), stamp)
        vault.shred(db.conn, signal_id, "receiver")
        vault.shred(db.conn, signal_id, "receiver_devices")
        vault.forget_intake(db.conn, signal_id)  # the fingerprint must not outlive the reveal
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], "opened")
        school = schools.get(db, row["school_id"])
        start = schooltime.next_school_start(parse(row["received_at"]), school["start_time"],
                                             schools.holidays(db, row["school_id"]))
        if now < start:
            _count(db, row["school_id"], row["received_at"], "opened_before_start")
        minutes = int((now - parse(row["received_at"])).total_seconds() // 60)
        db.conn.execute("INSERT INTO open_minutes (school_id, month, minutes) VALUES (?, ?, ?)",
                        (row["school_id"], _month(row["received_at"]), minutes))
    return Reveal(signal=row, child=child, sealed=mine)


def handover_available(db, signal_id: str) -> bool:
    return (vault.has_sealed(db.conn, signal_id, "handover")
            or vault.has_sealed(db.conn, signal_id, "handover_device"))


def assign_teacher(db, now: datetime, signal_id: str, teacher_id: int,
                   deadlines: "Deadlines | None" = None, note: phone_copies.BrowserNote | None = None) -> dict:
    """opened → teacher_assigned: the hand-over copy becomes the teacher's note, then is gone.

    When the hand-over is on the receiver's phone, the note is what the browser made (`note`,
    see _seal_note); that hand-over stays until the teacher reads (or its own deadline), so a
    note to a teacher who fell ill can be made again for another."""
    stamp = iso(now)
    deadlines = deadlines or Deadlines()
    with write(db):
        current = get(db, signal_id)
        note_rules.refuse_note_to_opener(current, teacher_id)
        row = _transition(db, signal_id, ("opened",),
                          {"state": "teacher_assigned", "assigned_at": stamp,
                           "first_assigned_at": stamp,
                           "teacher_id": teacher_id, "handled_how": "note",
                           "expires_at": _note_expiry(db, current["school_id"], now, deadlines),
                           "updated_at": stamp})
        if vault.has_sealed(db.conn, signal_id, "handover_device"):
            phone_copies.seal_note(db, signal_id, teacher_id, note, stamp)
            return row
        try:
            plaintext = vault.unseal(db.conn, signal_id, "handover")
        except vault.VaultError:
            raise HandoverGone("the hand-over copy no longer exists") from None
        vault.shred(db.conn, signal_id, "handover")
        vault.seal(db.conn, signal_id, "teacher", plaintext, stamp)
    return row


def told_in_person(db, now: datetime, signal_id: str, how: str,
                   teacher_id: int | None = None) -> dict:
    """opened → teacher_read without a note: 'I tell the teacher myself' or (VO) the pupil
    does not want the mentor told. 'self' is a promise, not a receipt: it becomes a task due at
    the next school start, and the teacher counts as informed only at the 'Verteld' tap
    (`tasks.told`)."""
    if how not in ("self", "pupil_declined"):
        raise ValueError("how must be 'self' or 'pupil_declined'")
    stamp = iso(now)
    sets = {"state": "teacher_read", "handled_how": how, "updated_at": stamp,
            "assigned_at": stamp}
    with write(db):
        if how == "self":
            school, holidays = schools.calendar(db, get(db, signal_id)["school_id"])
            sets.update(teacher_id=teacher_id,
                        told_due_at=iso(followups.told_due(now, school, holidays)))
        row = _transition(db, signal_id, ("opened",), sets)
        vault.shred(db.conn, signal_id, "handover")
        vault.shred(db.conn, signal_id, "handover_device")
    return row


def reassign_note(db, now: datetime, signal_id: str, teacher_id: int,
                  deadlines: "Deadlines | None" = None, note: phone_copies.BrowserNote | None = None) -> dict:
    """teacher_assigned → teacher_assigned for another teacher (the first is ill, or left).
    A server-sealed note is bound to the signal, not to a person, so nothing is decrypted; a
    note sealed to the first teacher's phones is made again by the receiver's browser from its
    phone-sealed hand-over (`note`). The unread deadline still counts from the FIRST assignment
    (note_rules), never restarts."""
    stamp = iso(now)
    deadlines = deadlines or Deadlines()
    with write(db):
        current = get(db, signal_id)
        note_rules.refuse_note_to_opener(current, teacher_id)
        row = _transition(db, signal_id, ("teacher_assigned",),
                          {"teacher_id": teacher_id, "assigned_at": stamp,
                           "expires_at": note_rules.reassigned_expiry(db, current, now, deadlines),
                           "updated_at": stamp})
        if vault.has_sealed(db.conn, signal_id, "teacher_devices") or note is not None:
            if not vault.has_sealed(db.conn, signal_id, "handover_device"):
                raise HandoverGone("the phone-sealed note cannot be made again")
            phone_copies.seal_note(db, signal_id, teacher_id, note, stamp)
        return row


def withdraw_note(db, now: datetime, signal_id: str) -> dict:
    """teacher_assigned → teacher_read: the receiver told the teacher in person after all; the
    unread note is destroyed at once."""
    stamp = iso(now)
    with write(db):
        row = _transition(db, signal_id, ("teacher_assigned",),
                          {"state": "teacher_read", "handled_how": "self",
                           "teacher_informed_at": stamp, "updated_at": stamp})
        for purpose in ("teacher", "teacher_devices", "handover_device"):
            vault.shred(db.conn, signal_id, purpose)
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], "teacher_informed")
    return row


def return_signal(db, now: datetime, signal_id: str) -> dict:
    """opened → returned: 'not our pupil'. Everything sealed is destroyed at once."""
    stamp = iso(now)
    with write(db):
        row = _transition(db, signal_id, ("opened",),
                          {"state": "returned", "closed_at": stamp, "updated_at": stamp})
        _end(db, row)
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], "returned")
    return row


def record_parent_contact(db, now: datetime, signal_id: str, choice: str) -> dict:
    """teacher_read → closed. After this only the anonymous counters remain (and the receipt)."""
    if choice not in PARENT_CONTACT:
        raise ValueError("unknown parent-contact choice")
    stamp = iso(now)
    with write(db):
        row = _transition(db, signal_id, ("teacher_read",),
                          {"state": "closed", "parent_contact": choice, "closed_at": stamp,
                           "updated_at": stamp})
        _end(db, row)
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], "closed")
    return row


# --- the teacher's transition -----------------------------------------------------------------

def teacher_read(db, now: datetime, signal_id: str, teacher_id: int,
                 phone: bytes | None = None) -> Reveal:
    """teacher_assigned → teacher_read, once, for the assigned teacher only; the note is gone.
    A note sealed to the teacher's phones gives the entry of `phone` (the one whose passkey
    just confirmed), else NotForThisPhone before anything changed."""
    stamp = iso(now)
    with write(db):
        current = _one(db, "SELECT teacher_id, state, school_id = (SELECT school_id FROM staff WHERE"
                       " id = ?) AS ours FROM signals WHERE id = ?", (teacher_id, signal_id))
        if current is None or not current["ours"]:  # whose before what state: no 410 oracle
            raise NotFound("no such note for this teacher")
        if current["teacher_id"] is None and current["state"] in ENDED:
            raise WrongState(current["state"])  # ended (e.g. expired) before the read
        if current["teacher_id"] != teacher_id:
            raise NotFound("no such note for this teacher")
        row = _transition(db, signal_id, ("teacher_assigned",),
                          {"state": "teacher_read", "teacher_informed_at": stamp,
                           "updated_at": stamp})
        entries = vault.open_entries(db.conn, signal_id, "teacher_devices")
        mine, child = phone_copies.entry_for(entries, phone), None
        if entries and mine is None:
            raise phone_copies.NotForThisPhone("the note is sealed to the teacher's other phones")
        if mine is None:
            child = Child.from_bytes(vault.unseal(db.conn, signal_id, "teacher"))
        for purpose in ("teacher", "teacher_devices", "handover_device"):
            vault.shred(db.conn, signal_id, purpose)
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], "teacher_informed")
    return Reveal(signal=row, child=child, sealed=mine)


# --- what people see in their lists (no personal data in any of it) ---------------------------

def mark_notified(db, now: datetime, signal_id: str) -> None:
    """The first push went out (recorded once; the receipt shows it)."""
    with write(db):
        cur = db.conn.execute(
            "UPDATE signals SET notified_at = ? WHERE id = ? AND notified_at IS NULL"
            " RETURNING school_id, received_at", (iso(now), signal_id))
        row = cur.fetchone()
        if row is not None:  # the first push: keep only how long it took, per school per month
            school_id, received_at = row
            db.conn.execute(
                "INSERT INTO notify_minutes (school_id, month, minutes) VALUES (?, ?, ?)",
                (school_id, _month(received_at),
                 int((now - parse(received_at)).total_seconds() // 60)))
