"""The school's log of who did what: staff and passkey changes, settings, away.

Lines hold ids and codes, never a child's name or birth date, and are forgotten after a year
(`staff.housekeeping`). The director reads them on /admin/audit.
"""
from __future__ import annotations

from datetime import datetime

from .clock import iso


def audit(db, now: datetime, school_id: int | None, actor: str, action: str, detail: str = "") -> None:
    db["audit_events"].insert({"school_id": school_id, "actor": actor, "action": action,
                               "detail": detail, "at": iso(now)})


def audit_events(db, school_id: int, limit: int = 50) -> list[dict]:
    return list(db.query("SELECT * FROM audit_events WHERE school_id = ? ORDER BY id DESC LIMIT ?",
                         (school_id, limit)))
