"""Schools: the BRIN, the name and the type (PO primary, VO secondary) decide the flow."""
from __future__ import annotations

from datetime import datetime

from .clock import iso
from .db import write
from .intake import BRIN_RE


class SchoolError(ValueError):
    pass


def add(db, now: datetime, *, brin: str, name: str, type: str = "po") -> dict:
    brin = brin.strip().upper()
    if not BRIN_RE.match(brin):
        raise SchoolError("BRIN must be 2 digits followed by 2 capital letters or digits")
    if not name.strip() or len(name) > 200:
        raise SchoolError("school name must be 1-200 characters")
    if type not in ("po", "vo"):
        raise SchoolError("type must be po or vo")
    with write(db):
        if by_brin(db, brin):
            raise SchoolError(f"school {brin} already exists")
        db["schools"].insert({"brin": brin, "name": name.strip(), "type": type,
                              "created_at": iso(now)})
    return by_brin(db, brin)


def by_brin(db, brin: str) -> dict | None:
    rows = list(db.query("SELECT * FROM schools WHERE brin = ?", (brin,)))
    return rows[0] if rows else None


def get(db, school_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM schools WHERE id = ?", (school_id,)))
    return rows[0] if rows else None


def all_schools(db) -> list[dict]:
    return list(db.query("SELECT * FROM schools ORDER BY brin"))
