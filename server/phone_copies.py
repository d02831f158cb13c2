"""Copies of a signal that only a phone can open, as the state machine hands them on. No Flask.

`signals` calls these inside its transactions: which phone's entry a view is (`entry_for`), the
opener's hand-over on their phone, and the teacher's note made by the receiver's browser
(`seal_note`), since the server holding only phone-sealed copies cannot make it itself.
The cryptography is in `device_seal`; whose phones they are, in `devicekeys`. ADR 0013.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import device_seal, devicekeys, vault


class NotForThisPhone(Exception):
    """The copies are sealed to phones, and the passkey just used is not one of them (another
    phone, or a passkey without PRF). Raised before anything changed."""


class NoteRefused(Exception):
    """The receiver's browser sent a note that does not fit the teacher's phones (sealed to
    other keys, or a plain line for a teacher whose phones can take a sealed one)."""


@dataclass(frozen=True)
class BrowserNote:
    """The teacher's note as the receiver's browser made it, when the server cannot: `entries`
    sealed to each of the teacher's phones (device_seal), or `child`, the one line, for a
    teacher without such a phone (sealed on the server as before)."""
    entries: tuple = ()
    child: object = None  # a signals.Child (to_bytes): the one line



def entry_for(entries: list[dict] | None, phone: bytes | None) -> dict | None:
    if not entries or not phone:
        return None
    mine = device_seal.b64(phone)
    return next((e for e in entries if e.get("pub") == mine), None)


def note_needs_browser(db, row: dict) -> bool:
    """Whether a note for (another) teacher must be made by the opener's browser: a first note
    when the hand-over is on the phone, a new one when the note itself is phone-sealed (a
    server-sealed note just goes to the new teacher, as before)."""
    if row["state"] == "teacher_assigned":
        return vault.has_sealed(db.conn, row["id"], "teacher_devices")
    return vault.has_sealed(db.conn, row["id"], "handover_device")


def handover_on_phone(db, signal_id: str) -> dict | None:
    """The opener's phone-sealed hand-over entry (closed to the server), if that is the copy."""
    entries = vault.open_entries(db.conn, signal_id, "handover_device")
    return entries[0] if entries else None


def seal_note(db, signal_id: str, teacher_id: int, note: BrowserNote | None, stamp: str) -> None:
    """The teacher's note from what the receiver's browser sent (the server holds only a
    phone-sealed hand-over): sealed to every phone of the teacher, or — for a teacher with
    none — the one line, sealed here as before. Anything else is refused (rolled back)."""
    if note is None:
        raise NoteRefused("the hand-over is on the receiver's phone: the browser must send it")
    phones = {device_seal.b64(k) for k in devicekeys.of_person(db, teacher_id)}
    vault.shred(db.conn, signal_id, "teacher")
    vault.shred(db.conn, signal_id, "teacher_devices")
    if phones:
        entries = [device_seal.check_entry(e) for e in note.entries]
        if {e["pub"] for e in entries} != phones or len(entries) != len(phones):
            raise NoteRefused("the note is not sealed to exactly the teacher's phones")
        vault.seal_entries(db.conn, signal_id, "teacher_devices", entries, stamp)
    elif note.child is not None and not note.entries:
        vault.seal(db.conn, signal_id, "teacher", note.child.to_bytes(), stamp)
    else:
        raise NoteRefused("this teacher has no phone key: the note must be the one line")


def drop_unopenable(db, now) -> int:
    """After a phone key went (a passkey revoked, a person switched off, a role taken away):
    drop the phone copies that no live key of someone allowed can open any more — a waiting
    signal sealed only to a lost phone, a note only to a teacher's revoked one. The sweep then
    ends their signals at once (told to the municipality, a trace for the school), instead of
    letting them wait a week unopenable. Cheap when nothing was lost: one indexed read."""
    if db.conn.execute("SELECT 1 FROM device_key_losses LIMIT 1").fetchone() is None:
        return 0
    db.conn.execute("DELETE FROM device_key_losses")
    live: dict[tuple, set[str]] = {}
    dropped = 0
    for signal_id, school_id, state, teacher_id in db.conn.execute(
            "SELECT g.id, g.school_id, g.state, g.teacher_id FROM signals g JOIN sealed s"
            " ON s.signal_id = g.id WHERE (g.state = 'received' AND s.purpose = 'receiver_devices')"
            " OR (g.state = 'teacher_assigned' AND s.purpose = 'teacher_devices')").fetchall():
        purpose = "receiver_devices" if state == "received" else "teacher_devices"
        whose = ("school", school_id) if state == "received" else ("teacher", teacher_id)
        if whose not in live:
            keys = (devicekeys.openers(db, school_id, now).keys if state == "received"
                    else devicekeys.of_person(db, teacher_id))
            live[whose] = {device_seal.b64(k) for k in keys}
        pubs = {e.get("pub") for e in vault.open_entries(db.conn, signal_id, purpose) or []}
        if not pubs & live[whose]:
            vault.shred(db.conn, signal_id, purpose)
            dropped += 1
    return dropped
