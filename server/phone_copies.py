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


def handover_is_on_phone(db, signal_id: str) -> bool:
    return vault.has_sealed(db.conn, signal_id, "handover_device")


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
