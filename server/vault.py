"""Seal, open and shred a child's personal data. No Flask here.

Each sealed item is encrypted with its own random 256-bit key (AES-256-GCM). The ciphertext lives
in hwc.db, the key in keys.db, which is never backed up: destroying the key row makes every copy
of the ciphertext (in a backup, on a disk image) unreadable — crypto-shredding. The associated data
binds a ciphertext to its signal and purpose, so a row copied onto another signal does not decrypt.

Callers run these inside a `db.write()` transaction; both files commit together.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: What a sealed item is for. The `_devices`/`_device` purposes hold copies sealed to phones
#: (device_seal entries, a JSON list) that the server cannot open; the server-held key here
#: only wraps them, so that destroying it still crypto-shreds every backup (ADR 0013).
PURPOSES = ("receiver", "handover", "teacher", "receiver_devices", "handover_device",
            "teacher_devices")


class VaultError(RuntimeError):
    """Sealed data is missing or does not authenticate. Never carries the plaintext."""


def _aad(signal_id: str, purpose: str) -> bytes:
    return f"hwc-inbox/v1/{signal_id}/{purpose}".encode()


def seal(conn: sqlite3.Connection, signal_id: str, purpose: str, plaintext: bytes, now: str) -> None:
    """Encrypt plaintext under a fresh key; ciphertext to hwc.db, key to keys.db."""
    if purpose not in PURPOSES:
        raise ValueError("unknown purpose")
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, _aad(signal_id, purpose))
    cur = conn.execute(
        "INSERT INTO main.sealed (signal_id, purpose, nonce, ciphertext, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (signal_id, purpose, nonce, ciphertext, now),
    )
    conn.execute(
        "INSERT INTO keys.data_keys (sealed_id, signal_id, key) VALUES (?, ?, ?)",
        (cur.lastrowid, signal_id, key),
    )


def unseal(conn: sqlite3.Connection, signal_id: str, purpose: str) -> bytes:
    """Decrypt one sealed item. Raises VaultError if it was shredded or tampered with."""
    row = conn.execute(
        "SELECT s.nonce, s.ciphertext, k.key FROM main.sealed s"
        " JOIN keys.data_keys k ON k.sealed_id = s.id"
        " WHERE s.signal_id = ? AND s.purpose = ?",
        (signal_id, purpose),
    ).fetchone()
    if row is None:
        raise VaultError("nothing sealed for this purpose (shredded or never sealed)")
    nonce, ciphertext, key = row
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, _aad(signal_id, purpose))
    except InvalidTag:
        raise VaultError("sealed data does not authenticate") from None


def has_sealed(conn: sqlite3.Connection, signal_id: str, purpose: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM main.sealed WHERE signal_id = ? AND purpose = ?", (signal_id, purpose)
    ).fetchone() is not None


def shred(conn: sqlite3.Connection, signal_id: str, purpose: str | None = None) -> int:
    """Destroy key and ciphertext (one purpose, or everything of the signal, intake MAC too).

    With `secure_delete=ON` SQLite overwrites the freed cells with zeros, and the rollback
    journal that briefly held the old pages is deleted at commit, so neither the key nor the
    ciphertext survives in any file of the data directory. Returns how many items were shredded.
    """
    if purpose is None:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM main.sealed WHERE signal_id = ?", (signal_id,))]
        conn.execute("DELETE FROM keys.intake WHERE signal_id = ?", (signal_id,))
    else:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM main.sealed WHERE signal_id = ? AND purpose = ?",
            (signal_id, purpose))]
    for sealed_id in ids:
        conn.execute("DELETE FROM keys.data_keys WHERE sealed_id = ?", (sealed_id,))
        conn.execute("DELETE FROM main.sealed WHERE id = ?", (sealed_id,))
    # Belt and braces: a key row whose ciphertext row is already gone must not linger.
    if purpose is None:
        conn.execute("DELETE FROM keys.data_keys WHERE signal_id = ?", (signal_id,))
    return len(ids)


def seal_entries(conn: sqlite3.Connection, signal_id: str, purpose: str, entries: list[dict],
                 now: str) -> None:
    """Keep phone-sealed entries (device_seal) under a server key: readable by the phones only,
    and gone from every copy once the server key is shredded."""
    seal(conn, signal_id, purpose, json.dumps(entries, sort_keys=True).encode(), now)


def open_entries(conn: sqlite3.Connection, signal_id: str, purpose: str) -> list[dict] | None:
    """The phone-sealed entries of a purpose (still closed to the server), or None if none."""
    try:
        return json.loads(unseal(conn, signal_id, purpose))
    except VaultError:
        return None


# --- idempotent intake ------------------------------------------------------------------------
# A retry must be recognised as "the same content" without keeping a readable or guessable
# fingerprint of the child: a plain SHA-256 of name + birth date can be brute-forced from a
# backup of hwc.db. So the fingerprint is an HMAC under a per-signal key that lives in keys.db and
# is shredded with the rest.

def remember_intake(conn: sqlite3.Connection, signal_id: str, content: bytes) -> None:
    mac_key = os.urandom(32)
    conn.execute(
        "INSERT INTO keys.intake (signal_id, mac_key, mac) VALUES (?, ?, ?)",
        (signal_id, mac_key, hmac.new(mac_key, content, hashlib.sha256).digest()),
    )


def forget_intake(conn: sqlite3.Connection, signal_id: str) -> None:
    """Destroy the intake fingerprint (at the reveal: after that no retry is compared)."""
    conn.execute("DELETE FROM keys.intake WHERE signal_id = ?", (signal_id,))


def matches_intake(conn: sqlite3.Connection, signal_id: str, content: bytes) -> bool | None:
    """True/False if the content can still be compared; None once it was shredded."""
    row = conn.execute(
        "SELECT mac_key, mac FROM keys.intake WHERE signal_id = ?", (signal_id,)
    ).fetchone()
    if row is None:
        return None
    mac_key, mac = row
    return hmac.compare_digest(hmac.new(mac_key, content, hashlib.sha256).digest(), mac)
