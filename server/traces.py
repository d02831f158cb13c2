"""Nameless traces: what a school keeps for a few days when a signal or a note ended without
reaching the child (nobody opened it, or the teacher never read the note).

Without them the signal simply vanished from the inbox and only the municipality learned
'expired' (issue 12). A trace holds the school, the kind and the moment of receipt - never the
child, the reference or a staff member - so the inbox can say "Een signaal van dinsdag
3 december is niet geopend en is verwijderd" and the school can ask the municipality to resend.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from .clock import iso, parse
from .db import write

#: How long the inbox shows a trace: long enough to be seen after a weekend or a sick day.
KEEP = timedelta(days=5)
KINDS = ("unopened", "unread", "unconfirmed")


def record(db, rows: list[dict], stamp: str, kind: str | None = None) -> int:
    """Keep a trace for each signal in `rows` that just ended without reaching the child
    (inside the sweep's write): expired unopened or unread, or closed by the deadline before
    anyone confirmed the teacher knew (`kind="unconfirmed"`)."""
    keep_until = iso(parse(stamp) + KEEP)
    for row in rows:
        kind_ = kind or ("unread" if row.get("assigned_at") else "unopened")
        db.conn.execute(
            "INSERT INTO school_traces (school_id, kind, received_at, ended_at, keep_until)"
            " VALUES (?, ?, ?, ?, ?)", (row["school_id"], kind_, row["received_at"], stamp,
                                        keep_until))
    return len(rows)


def for_school(db, school_id: int, now: datetime) -> list[dict]:
    """The traces a school's inbox shows now, oldest first."""
    return list(db.query(
        "SELECT kind, received_at, ended_at FROM school_traces WHERE school_id = ?"
        " AND keep_until > ? ORDER BY received_at, id", (school_id, iso(now))))


def count(db, school_id: int, since: str) -> int:
    """Traces recorded since `since` (for the director's monitoring)."""
    return db.conn.execute("SELECT COUNT(*) FROM school_traces WHERE school_id = ?"
                           " AND ended_at >= ?", (school_id, since)).fetchone()[0]


def purge(db, now: datetime, cfg=None) -> dict:
    """The sweep step: traces past their time are deleted (only then does a write happen)."""
    stamp = iso(now)
    if db.conn.execute("SELECT 1 FROM school_traces WHERE keep_until <= ? LIMIT 1",
                       (stamp,)).fetchone() is None:
        return {"traces_purged": 0}
    with write(db):
        n = db.conn.execute("DELETE FROM school_traces WHERE keep_until <= ?", (stamp,)).rowcount
    return {"traces_purged": n}
