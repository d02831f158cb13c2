"""Every deadline that is due, applied in one pass: the sweep the scheduler runs each minute.

Split from `signals` (the state machine) because it is a different question — not "may this
step happen now" but "what has run out" — and both together outgrew one readable module. No
Flask here; time is injected.
"""
from __future__ import annotations

from datetime import datetime

from . import phone_copies, signals, traces, vault
from .clock import iso
from .db import write
from .deadlines import Deadlines


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
        #    Likewise a copy sealed only to phones that are gone (ADR 0013).
        done["phone_copies_dropped"] = phone_copies.drop_unopenable(db, now)
        cur = db.conn.execute(
            "UPDATE signals SET state = 'expired', closed_at = ?, updated_at = ?"
            " WHERE (state = 'received' AND NOT EXISTS (SELECT 1 FROM sealed x WHERE"
            "        x.signal_id = signals.id AND x.purpose IN ('receiver', 'receiver_devices')))"
            "    OR (state = 'teacher_assigned' AND NOT EXISTS (SELECT 1 FROM sealed x WHERE"
            "        x.signal_id = signals.id AND x.purpose IN ('teacher', 'teacher_devices')))"
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
            " WHERE (s.purpose = 'handover' OR (s.purpose = 'handover_device'"
            "        AND g.state != 'teacher_assigned'))"
            " AND ((g.handover_until IS NULL AND g.opened_at <= ?) OR g.handover_until <= ?)",
            (iso(now - deadlines.handover), stamp))]
        for signal_id in due:
            vault.shred(db.conn, signal_id, "handover")
            vault.shred(db.conn, signal_id, "handover_device")
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
        signals._end(db, row)
        signals._emit(db, row, stamp)
        signals._count(db, row["school_id"], row["received_at"], metric)
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
