"""Municipality API tokens: 256-bit random, shown once, stored as a SHA-256 digest, scoped.

A machine token has full entropy, so a fast hash is right (argon2 is for what people type). The
lookup is by digest and then compared in constant time, so timing says nothing about a token.
"""
from __future__ import annotations

import hmac
from datetime import datetime

from . import schools as schools_mod
from .clock import iso
from .db import write
from .tokens import digest, new_token

TOKEN_PREFIX = "hwc_"


class MunicipalityError(ValueError):
    pass


def add(db, now: datetime, *, name: str, brins: list[str]) -> tuple[dict, str]:
    """Create a municipality scoped to schools; return (row, token). The token is not stored."""
    name = name.strip()
    if not name or len(name) > 200:
        raise MunicipalityError("name must be 1-200 characters")
    if not brins:
        raise MunicipalityError("give at least one --school BRIN")
    token = new_token(TOKEN_PREFIX)
    with write(db):
        if list(db.query("SELECT 1 FROM municipalities WHERE name = ?", (name,))):
            raise MunicipalityError(f"municipality {name!r} already exists")
        school_ids = []
        for brin in brins:
            school = schools_mod.by_brin(db, brin.strip().upper())
            if school is None:
                raise MunicipalityError(f"unknown school {brin}")
            school_ids.append(school["id"])
        mid = db["municipalities"].insert(
            {"name": name, "token_hash": digest(token), "created_at": iso(now)}).last_pk
        for sid in sorted(set(school_ids)):
            db["municipality_schools"].insert({"municipality_id": mid, "school_id": sid})
    return get(db, mid), token


def get(db, municipality_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM municipalities WHERE id = ?", (municipality_id,)))
    return rows[0] if rows else None


def authenticate(db, token: str | None) -> dict | None:
    """The active municipality a bearer token belongs to, or None (no hint why)."""
    if not token or len(token) > 200:
        return None
    hashed = digest(token)
    rows = list(db.query(
        "SELECT * FROM municipalities WHERE token_hash = ? AND revoked_at IS NULL", (hashed,)))
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], hashed):
        return None
    return rows[0]


def school_ids(db, municipality_id: int) -> set[int]:
    return {r["school_id"] for r in db.query(
        "SELECT school_id FROM municipality_schools WHERE municipality_id = ?",
        (municipality_id,))}


def covers(db, municipality_id: int, school_id: int) -> bool:
    """Whether the school is in the municipality's list (one row looked up, not the whole list:
    every intake asks)."""
    return db.conn.execute(
        "SELECT 1 FROM municipality_schools WHERE municipality_id = ? AND school_id = ?",
        (municipality_id, school_id)).fetchone() is not None


def names_for_school(db, school_id: int) -> list[str]:
    """The municipalities that may send to a school (revoked ones left out), by name: the school's
    letters say which municipality a signal comes from."""
    return [r["name"] for r in db.query(
        "SELECT m.name FROM municipalities m JOIN municipality_schools ms"
        " ON ms.municipality_id = m.id WHERE ms.school_id = ? AND m.revoked_at IS NULL"
        " ORDER BY m.name", (school_id,))]


def revoke(db, now: datetime, name: str) -> None:
    with write(db):
        cur = db.conn.execute(
            "UPDATE municipalities SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (iso(now), name))
        if cur.rowcount == 0:
            raise MunicipalityError(f"no active municipality named {name!r}")


def all_municipalities(db) -> list[dict]:
    return list(db.query("SELECT * FROM municipalities ORDER BY name"))


def set_webhook(db, name: str, url: str) -> str:
    """Register (or change) a municipality's receipt webhook; returns a NEW signing secret, to be
    shown once. Every call rotates the secret, so a leaked one is replaced by registering again."""
    from . import webhooks

    try:
        url = webhooks.validate_url(url)
    except webhooks.WebhookError as exc:
        raise MunicipalityError(str(exc)) from None
    secret = webhooks.new_secret()
    with write(db):
        cur = db.conn.execute(
            "UPDATE municipalities SET webhook_url = ?, webhook_secret = ?"
            " WHERE name = ? AND revoked_at IS NULL", (url, secret, name))
        if cur.rowcount == 0:
            raise MunicipalityError(f"no active municipality named {name!r}")
    return secret


def remove_webhook(db, name: str) -> int:
    """Stop pushing receipts; undelivered events are dropped (the API still has the receipts).
    Returns how many undelivered events were dropped."""
    with write(db):
        rows = list(db.query("SELECT id FROM municipalities WHERE name = ? AND revoked_at IS NULL",
                             (name,)))
        if not rows:
            raise MunicipalityError(f"no active municipality named {name!r}")
        db.conn.execute("UPDATE municipalities SET webhook_url = NULL, webhook_secret = NULL"
                        " WHERE id = ?", (rows[0]["id"],))
        return db.conn.execute(
            "DELETE FROM receipt_events WHERE municipality_id = ? AND delivered_at IS NULL",
            (rows[0]["id"],)).rowcount
