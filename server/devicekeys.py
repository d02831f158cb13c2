"""Which phones can open a signal the server cannot read: people's device public keys.

A device key belongs to one passkey (the PRF output is per credential) and so to one phone. It
is registered by the ceremony that proved the passkey (enrolment, login, step-up: the browser
sends the public key next to the assertion) and it goes when the passkey is revoked or its
owner switched off or deleted — by triggers in the schema (migration 0016), so no path that
revokes or switches off can forget it. The PRF salt is per person and not secret: it only makes
the phone's output specific to this product and person (`prf_salt`). No Flask here.
"""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from . import device_seal
from . import staff as staff_mod
from .clock import iso
from .db import write


def prf_salt(user_handle: bytes) -> bytes:
    """The person's PRF salt: fixed per person (their random WebAuthn user handle), so every
    ceremony — the invite before the person exists, too — asks the same question and the phone
    derives the same key; not secret, and nothing to store or lose."""
    return hashlib.sha256(b"hwc-inbox/v1/prf-salt/" + bytes(user_handle)).digest()


def mark_prf(db, passkey_id: int, capable: bool) -> None:
    """Whether the passkey answered the PRF question (an older phone, Windows Hello: no), so a
    login asks for it once, not every time."""
    with write(db):
        db.conn.execute("UPDATE passkeys SET prf = ? WHERE id = ?", (int(capable), passkey_id))


def needs_phone_key(db, passkey: dict) -> bool:
    """After a login (which cannot ask the PRF question: the person is not known before it):
    should the browser ask once more, for this passkey, to register its phone key?"""
    return passkey.get("prf") != 0 and of_passkey(db, passkey["id"]) is None


class KeyRefused(ValueError):
    """A phone key that cannot be this passkey's: a different one than it gave before (the PRF
    output of a passkey under the person's salt never changes), or one another passkey holds."""


def register(db, now: datetime, passkey: dict, public_key: bytes) -> int:
    """Remember the public key a phone derived for this (just verified) passkey; returns its
    id. Never replaced: copies sealed to the first would silently become unopenable, and a key
    copied from a colleague (a teacher's keys are public to receivers) must not be taken on."""
    key = device_seal.public_key(public_key)
    with write(db):
        known = of_passkey(db, passkey["id"])
        if known is not None and known != key:
            raise KeyRefused("this passkey gave another phone key before")
        if known is None:
            try:
                db.conn.execute(
                    "INSERT INTO device_keys (passkey_id, staff_id, public_key, created_at)"
                    " VALUES (?, ?, ?, ?)", (passkey["id"], passkey["staff_id"], key, iso(now)))
            except sqlite3.IntegrityError:
                raise KeyRefused("another passkey holds this phone key") from None
        db.conn.execute("UPDATE passkeys SET prf = 1 WHERE id = ?", (passkey["id"],))
        return db.conn.execute("SELECT id FROM device_keys WHERE passkey_id = ?",
                               (passkey["id"],)).fetchone()[0]


def of_passkey(db, passkey_id: int) -> bytes | None:
    row = db.conn.execute("SELECT public_key FROM device_keys WHERE passkey_id = ?",
                          (passkey_id,)).fetchone()
    return row[0] if row else None


def _usable(db, where: str, args) -> list[dict]:
    """Keys of live passkeys of active people (a revoked passkey's key is gone already; the
    joins are a second guard)."""
    return list(db.query(
        "SELECT d.id, d.staff_id, d.public_key FROM device_keys d"
        " JOIN passkeys p ON p.id = d.passkey_id AND p.revoked_at IS NULL"
        " JOIN staff s ON s.id = d.staff_id AND s.active = 1"
        f" WHERE {where} ORDER BY d.id", args))


def of_person(db, staff_id: int) -> list[bytes]:
    return [r["public_key"] for r in _usable(db, "d.staff_id = ?", (staff_id,))]


@dataclass(frozen=True)
class Openers:
    """Who may open a school's waiting signals (active receivers and backups, by id → name),
    their live phone keys, and pending invites for those roles — read once per intake, and
    the one answer behind 'can this school receive', 'seal to whom' and the director's status."""
    people: dict
    keys: dict  # public key → staff id
    pending: int

    @property
    def anyone(self) -> bool:
        """Someone can open a signal now or after enrolling (access.school_can_receive)."""
        return bool(self.people) or self.pending > 0

    @property
    def without_key(self) -> list[str]:
        return sorted(self.people[pid] for pid in set(self.people) - set(self.keys.values()))

    @property
    def needs_server_copy(self) -> bool:
        """Someone who may open it could not with a phone: the server keeps a copy it can read."""
        return not self.people or bool(self.without_key) or self.pending > 0


def openers(db, school_id: int, now: datetime) -> Openers:
    """Two statements, since every intake asks (docs/performance.md)."""
    roles = staff_mod.OPENING_ROLES
    marks = ",".join("?" * len(roles))
    people, keys = {}, {}
    for staff_id, name, key in db.conn.execute(
            "SELECT DISTINCT s.id, s.display_name, d.public_key FROM staff s"
            f" JOIN staff_roles r ON r.staff_id = s.id AND r.role IN ({marks})"
            " LEFT JOIN device_keys d ON d.staff_id = s.id AND EXISTS (SELECT 1 FROM passkeys p"
            "     WHERE p.id = d.passkey_id AND p.revoked_at IS NULL)"
            " WHERE s.school_id = ? AND s.active = 1 ORDER BY d.id", (*roles, school_id)):
        people[staff_id] = name
        if key is not None:
            keys[key] = staff_id
    any_role = " OR ".join("(',' || roles || ',') LIKE ?" for _ in roles)
    pending = db.conn.execute(
        "SELECT count(*) FROM invites WHERE school_id = ? AND used_at IS NULL"
        f" AND withdrawn_at IS NULL AND expires_at > ? AND ({any_role})",
        (school_id, iso(now), *(f"%,{role},%" for role in roles))).fetchone()[0]
    return Openers(people=people, keys=keys, pending=pending)


def school_status(db, school_id: int, now: datetime) -> dict:
    """For the director's page: whether 'de server kan wachtende signalen niet lezen' holds for
    new signals, who still has to log in once on a phone that supports it, and how many can
    open (one alone is fragile: a lost phone leaves signals nobody can open)."""
    found = openers(db, school_id, now)
    return {"sealed": not found.needs_server_copy, "missing": found.without_key,
            "pending_invites": found.pending, "openers": len(found.people)}
