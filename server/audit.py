"""The school's log of who did what: staff and passkey changes, settings, away.

Lines hold ids and codes, never a child's name or birth date, and are forgotten after a year
(`staff.housekeeping`). The director reads them as sentences (`auditlog.lines`).
"""
from __future__ import annotations

from datetime import datetime

from .clock import iso


def audit(db, now: datetime, school_id: int | None, actor: str, action: str, detail: str = "") -> None:
    db["audit_events"].insert({"school_id": school_id, "actor": actor, "action": action,
                               "detail": detail, "at": iso(now)})
