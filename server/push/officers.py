"""Pushing the leerplicht officer when a signal comes back: returned as "niet onze leerling", or
expired without anyone at school opening it — so it can be rerouted the same morning.

The same Web Push machinery as for staff (`deliver.send`), with one generic sentence and the
receipts page: no name, no school, no reference, no count. Which signals were announced is a
timestamp on the signal (`officer_alerted_at`), so each is announced once, and the job rows hold
only the officer's id. Quiet hours do not apply: officers act during office hours and the push
service holds a message for a phone that is off (TTL).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ..clock import iso
from ..db import write
from . import deliver, subscriptions
from .vapid import load_vapid, subject_for

BODY = "Er is een signaal teruggekomen. Kijk bij de ontvangstbevestigingen."
URL = "/gemeente/ontvangstbevestigingen"
TTL_SECONDS = 12 * 3600
MAX_ATTEMPTS = 6
_PENDING = "sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= :now"
#: Returned, or expired while nobody had opened it.
_NEEDS_ALERT = ("officer_alerted_at IS NULL AND (state = 'returned' OR"
                " (state = 'expired' AND opened_at IS NULL))")


def payload() -> dict:
    return {"title": deliver.TITLE, "body": BODY, "url": URL}


def plan(db, now: datetime) -> int:
    """One job per officer (with a device) of each municipality that has a signal back.
    Returns how many jobs were made; reads only when nothing came back."""
    if db.conn.execute(f"SELECT 1 FROM signals WHERE {_NEEDS_ALERT} LIMIT 1").fetchone() is None:
        return 0
    stamp, made = iso(now), 0
    with write(db):
        rows = db.conn.execute(
            f"UPDATE signals SET officer_alerted_at = ? WHERE {_NEEDS_ALERT}"
            " RETURNING municipality_id", (stamp,)).fetchall()
        for mid in sorted({r[0] for r in rows}):
            officers = db.conn.execute(
                "SELECT DISTINCT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id"
                " AND r.role = 'officer' JOIN push_subscriptions p ON p.staff_id = s.id"
                " WHERE s.municipality_id = ? AND s.active = 1", (mid,)).fetchall()
            for (staff_id,) in officers:
                pending = db.conn.execute(
                    "SELECT 1 FROM officer_push_jobs WHERE staff_id = ? AND sent_at IS NULL"
                    " AND given_up_at IS NULL", (staff_id,)).fetchone()
                if pending is None:  # one unsent push per officer is enough
                    db.conn.execute("INSERT INTO officer_push_jobs (staff_id, created_at,"
                                    " next_attempt_at) VALUES (?, ?, ?)", (staff_id, stamp, stamp))
                    made += 1
    return made


def deliver_due(db, now: datetime, cfg, *, timeout: float = deliver.SEND_TIMEOUT) -> dict:
    stamp = iso(now)
    counts = {"officer_push_sent": 0, "officer_push_retry": 0, "officer_push_given_up": 0}
    if db.conn.execute(f"SELECT 1 FROM officer_push_jobs WHERE {_PENDING} LIMIT 1",
                       {"now": stamp}).fetchone() is None:
        return counts  # nothing due: no write transaction
    with write(db):  # claim the due jobs (a lease against a parallel worker)
        jobs = db.conn.execute(
            f"UPDATE officer_push_jobs SET attempts = attempts + 1, next_attempt_at = :lease"
            f" WHERE {_PENDING} RETURNING id, staff_id, attempts",
            {"now": stamp, "lease": iso(now + deliver.LEASE)}).fetchall()
    vapid, subject = load_vapid(cfg.data_dir), subject_for(cfg)
    for job_id, staff_id, attempts in jobs:
        devices = list(db.query("SELECT * FROM push_subscriptions WHERE staff_id = ?", (staff_id,)))
        # The same checks as for staff pushes: only known push services (re-checked before every
        # send), only public addresses at connect time, one total deadline per call.
        outcomes = {d["id"]: deliver.send(d, payload(), TTL_SECONDS, "high", vapid=vapid,
                                          subject=subject, timeout=timeout, topic="gemeente",
                                          allow_local=cfg.testing)
                    for d in devices
                    if subscriptions.endpoint_allowed(d["endpoint"], allow_local=cfg.testing,
                                                      extra_hosts=cfg.push_hosts)}
        kinds = {o.kind for o in outcomes.values()}
        with write(db):
            for device_id, outcome in outcomes.items():
                if outcome.kind == "gone":
                    db.conn.execute("DELETE FROM push_subscriptions WHERE id = ?", (device_id,))
                elif outcome.kind == "ok":
                    db.conn.execute("UPDATE push_subscriptions SET last_success_at = ?"
                                    " WHERE id = ?", (stamp, device_id))
            if "ok" in kinds:
                db.conn.execute("UPDATE officer_push_jobs SET sent_at = ?, last_error = NULL"
                                " WHERE id = ?", (stamp, job_id))
                counts["officer_push_sent"] += 1
            elif "retry" in kinds and attempts < MAX_ATTEMPTS:
                wait = max((o.retry_after or 0) for o in outcomes.values() if o.kind == "retry")
                when = now + deliver.backoff(attempts, wait or None)
                db.conn.execute("UPDATE officer_push_jobs SET next_attempt_at = ?, last_error ="
                                " 'retry' WHERE id = ?", (iso(when), job_id))
                counts["officer_push_retry"] += 1
            else:
                db.conn.execute("UPDATE officer_push_jobs SET given_up_at = ?, last_error = ?"
                                " WHERE id = ?", (stamp, "no device" if not kinds else
                                                  "failed", job_id))
                counts["officer_push_given_up"] += 1
    return counts


def housekeeping(db, now: datetime, keep: timedelta = timedelta(days=7)) -> int:
    """Finished jobs (sent or given up) are forgotten after a week."""
    with write(db):
        return db.conn.execute(
            "DELETE FROM officer_push_jobs WHERE (sent_at IS NOT NULL OR given_up_at IS NOT NULL)"
            " AND created_at < ?", (iso(now - keep),)).rowcount


def sweep_job(db, now: datetime, cfg) -> dict:
    """The sweep step (`jobs.STEPS`): plan, deliver, tidy."""
    made = plan(db, now)
    result = deliver_due(db, now, cfg)
    result["officer_push_planned"] = made
    if db.conn.execute("SELECT 1 FROM officer_push_jobs WHERE sent_at IS NOT NULL OR"
                       " given_up_at IS NOT NULL LIMIT 1").fetchone():
        housekeeping(db, now)
    return result
