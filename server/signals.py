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

from . import followups, note_rules, receipts, schools, schooltime, traces, vault
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


def receive(db, now: datetime, *, municipality_id: int, school_id: int, reference: str,
            child: Child, deadlines: "Deadlines | None" = None) -> tuple[dict, bool]:
    """Store a new signal sealed, or recognise an idempotent retry. Returns (row, created)."""
    deadlines = deadlines or Deadlines()
    content = _intake_bytes(school_id, child)
    # Everything that needs no lock is done before the write lock is taken: under load each
    # statement inside it gives up the GIL and waits for it again while the next writers queue
    # (docs/performance.md, Load). The calendar only sets the deadline; the row is new or not.
    signal_id, stamp = secrets.token_urlsafe(16), iso(now)
    school, holidays = schools.calendar(db, school_id)
    expires = unopened_deadline(now, school["start_time"], holidays, deadlines.unopened_expiry)
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
        vault.seal(db.conn, signal_id, "receiver", child.to_bytes(), stamp)
        vault.remember_intake(db.conn, signal_id, content)
        _count(db, school_id, stamp, "received")
        return row, True


# --- the receiver's transitions ---------------------------------------------------------------

@dataclass(frozen=True)
class Reveal:
    signal: dict
    child: Child


def reveal(db, now: datetime, signal_id: str, staff_id: int) -> Reveal:
    """received → opened, exactly once. The receiver's copy becomes a sealed hand-over.

    Raises WrongState (with the row, so the page can say who opened it when) for the loser of a
    race, a second tab, or a reload.
    """
    stamp = iso(now)
    with write(db):
        row = _transition(db, signal_id, ("received",),
                          {"state": "opened", "opened_at": stamp, "opened_by": staff_id,
                           "updated_at": stamp})
        try:
            child = Child.from_bytes(vault.unseal(db.conn, signal_id, "receiver"))
        except vault.VaultError:
            raise Unreadable("the sealed copy cannot be opened any more") from None
        vault.shred(db.conn, signal_id, "receiver")
        vault.forget_intake(db.conn, signal_id)  # the fingerprint must not outlive the reveal
        vault.seal(db.conn, signal_id, "handover", child.to_bytes(), stamp)
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
    return Reveal(signal=row, child=child)


def handover_available(db, signal_id: str) -> bool:
    return vault.has_sealed(db.conn, signal_id, "handover")


def assign_teacher(db, now: datetime, signal_id: str, teacher_id: int,
                   deadlines: "Deadlines | None" = None) -> dict:
    """opened → teacher_assigned: the hand-over copy becomes the teacher's note, then is gone."""
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
    return row


def reassign_note(db, now: datetime, signal_id: str, teacher_id: int,
                  deadlines: "Deadlines | None" = None) -> dict:
    """teacher_assigned → teacher_assigned for another teacher (the first is ill, or left).
    The sealed note is bound to the signal, not to a person, so nothing is decrypted; the unread
    deadline still counts from the FIRST assignment (note_rules), never restarts."""
    stamp = iso(now)
    deadlines = deadlines or Deadlines()
    with write(db):
        current = get(db, signal_id)
        note_rules.refuse_note_to_opener(current, teacher_id)
        return _transition(db, signal_id, ("teacher_assigned",),
                           {"teacher_id": teacher_id, "assigned_at": stamp,
                            "expires_at": note_rules.reassigned_expiry(db, current, now, deadlines),
                            "updated_at": stamp})


def withdraw_note(db, now: datetime, signal_id: str) -> dict:
    """teacher_assigned → teacher_read: the receiver told the teacher in person after all; the
    unread note is destroyed at once."""
    stamp = iso(now)
    with write(db):
        row = _transition(db, signal_id, ("teacher_assigned",),
                          {"state": "teacher_read", "handled_how": "self",
                           "teacher_informed_at": stamp, "updated_at": stamp})
        vault.shred(db.conn, signal_id, "teacher")
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

def teacher_read(db, now: datetime, signal_id: str, teacher_id: int) -> Child:
    """teacher_assigned → teacher_read, once, for the assigned teacher only; the note is gone."""
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
        child = Child.from_bytes(vault.unseal(db.conn, signal_id, "teacher"))
        vault.shred(db.conn, signal_id, "teacher")
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], "teacher_informed")
    return child


# --- deadlines --------------------------------------------------------------------------------

def sweep(db, now: datetime, deadlines: Deadlines = Deadlines()) -> dict:
    """Apply every deadline that is due; idempotent, safe to run concurrently with the routes.

    Each kind of deadline is one guarded UPDATE over all due rows, so a teacher reading a note
    in the same second as the sweep either reads it (and the sweep skips it) or finds it expired.
    """
    stamp = iso(now)
    done = {}
    with write(db):
        # 0. Ciphertext whose key is gone (hwc.db restored without keys.db) can never be read:
        #    drop it, and let the signals that needed it expire now instead of failing later.
        orphans = [r[0] for r in db.conn.execute(
            "SELECT s.id FROM main.sealed s LEFT JOIN keys.data_keys k ON k.sealed_id = s.id"
            " WHERE k.sealed_id IS NULL")]
        for sealed_id in orphans:
            db.conn.execute("DELETE FROM main.sealed WHERE id = ?", (sealed_id,))
        cur = db.conn.execute(
            "UPDATE signals SET state = 'expired', closed_at = ?, updated_at = ?"
            " WHERE (state = 'received' AND NOT EXISTS (SELECT 1 FROM sealed x WHERE"
            "        x.signal_id = signals.id AND x.purpose = 'receiver'))"
            "    OR (state = 'teacher_assigned' AND NOT EXISTS (SELECT 1 FROM sealed x WHERE"
            "        x.signal_id = signals.id AND x.purpose = 'teacher'))"
            " RETURNING *", (stamp, stamp))
        rows = _rows(cur)
        _ended(db, rows, stamp, "expired")
        done["expired_keyless"] = len(rows)
        # 1. Nobody opened it in time (expires_at was fixed at receipt, see unopened_deadline).
        rows = _bulk(db, "received", "expires_at", stamp,
                     {"state": "expired", "closed_at": stamp, "updated_at": stamp})
        _ended(db, rows, stamp, "expired")
        done["expired_unopened"] = len(rows)
        # 2. The teacher did not read the note in time.
        # (expires_at was fixed at assignment, in school days: see note_deadline)
        rows = _bulk(db, "teacher_assigned", "expires_at", stamp,
                     {"state": "expired", "closed_at": stamp, "updated_at": stamp})
        _ended(db, rows, stamp, "expired")
        done["expired_unread"] = len(rows)
        # 3. The receiver's hand-over copy lives at most `handover` after the reveal.
        due = [r["signal_id"] for r in db.query(
            "SELECT s.signal_id FROM sealed s JOIN signals g ON g.id = s.signal_id"
            " WHERE s.purpose = 'handover' AND ((g.handover_until IS NULL AND g.opened_at <= ?)"
            " OR g.handover_until <= ?)", (iso(now - deadlines.handover), stamp))]
        for signal_id in due:
            vault.shred(db.conn, signal_id, "handover")
        done["handover_destroyed"] = len(due)
        # 4. Cases nobody closed: opened without a choice, or without a parent-contact record.
        cutoff = iso(now - deadlines.case_autoclose)
        cur = db.conn.execute(
            "UPDATE signals SET state = 'closed', closed_at = ?, updated_at = ?,"
            " parent_contact = COALESCE(parent_contact, 'not_recorded')"
            " WHERE state IN ('opened', 'teacher_read') AND COALESCE(assigned_at, opened_at) <= ?"
            " RETURNING *", (stamp, stamp, cutoff))
        rows = _rows(cur)
        _ended(db, rows, stamp, "closed")
        # Closed while nobody confirmed the teacher knew (no note read, no 'Verteld', not the
        # pupil's own wish): the school keeps a nameless trace, as for an expired signal.
        traces.record(db, [r for r in rows if not r["teacher_informed_at"]
                           and r["handled_how"] != "pupil_declined"], stamp, "unconfirmed")
        done["closed_automatically"] = len(rows)
        # 5. Receipts (no personal data) are kept for the municipality, then purged.
        purge_before = iso(now - deadlines.receipt_purge)
        ids = [r["id"] for r in db.query(
            "SELECT id FROM signals WHERE state IN ('closed', 'returned', 'expired')"
            " AND updated_at <= ?", (purge_before,))]
        for signal_id in ids:
            vault.shred(db.conn, signal_id)
            db.conn.execute("DELETE FROM signals WHERE id = ?", (signal_id,))
        done["receipts_purged"] = len(ids)
    return done


def _ended(db, rows: list[dict], stamp: str, metric: str) -> None:
    """What the sweep does for every signal a deadline just ended."""
    for row in rows:
        _end(db, row)
        _emit(db, row, stamp)
        _count(db, row["school_id"], row["received_at"], metric)
    if metric == "expired":  # the child was not reached: the school keeps a nameless trace
        traces.record(db, rows, stamp)


def _rows(cur) -> list[dict]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _bulk(db, state: str, column: str, cutoff: str, sets: dict) -> list[dict]:
    assignments = ", ".join(f"{col} = :set_{col}" for col in sets)
    params = {f"set_{col}": value for col, value in sets.items()}
    cur = db.conn.execute(
        f"UPDATE signals SET {assignments} WHERE state = :from_state AND {column} <= :cutoff"
        " RETURNING *", dict(params, from_state=state, cutoff=cutoff))
    return _rows(cur)


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
