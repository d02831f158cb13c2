"""Sending due push jobs: one push per person, page and device, retried with backoff.

Pushes never carry personal data, a school name or a signal id - only one generic sentence and
the page to open. A push that fails only ever changes rows in `push_jobs` / `push_subscriptions`,
never a signal's state.
"""
from __future__ import annotations

import http.client
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from py_vapid import Vapid

from .. import escalation, outbound, retry, signals
from ..clock import iso
from ..db import write
from ..schools import Calendars
from . import subscriptions
from .vapid import load_vapid, subject_for

log = logging.getLogger("hwc.push")

#: The one sentence a push ever says. No name, school, signal id or count.
BODY = "Er staat een nieuw bericht voor je klaar."
TITLE = "HwC Inbox"
URL_FOR_EVENT = {"new": "/inbox", "escalate": "/inbox", "note": "/notes", "director": "/inbox",
                 "note_reminder": "/notes", "note_unread": "/inbox", "note_deadline": "/inbox",
                 "told_reminder": "/inbox", "case_closing": "/inbox"}
EVENTS = tuple(URL_FOR_EVENT)

#: A push the phone could not receive within 12 hours is stale: by then the morning is over and
#: the escalation, the inbox itself or the deadline has taken over. Pushes are held during quiet
#: hours, so 12 h covers a phone that is switched off until late morning.
TTL_SECONDS = 12 * 3600
#: Every push asks the person to act before school starts: wake the device.
URGENCY = "high"
#: Seconds per HTTP call to a push service, for the whole call (`server.outbound`).
SEND_TIMEOUT = 10
#: No new person's pushes start after a run has taken this long, so a slow push service delays
#: the next sweep's deadlines by a bounded time; who is left is pushed in the next run.
RUN_BUDGET_SECONDS = 30
#: Attempts per job before it is given up (backoff 1, 2, 4, 8, 16, 30, 30 min: ~1.5 h in all).
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(minutes=30)
#: A claimed job is invisible to other workers this long (longer than sending to all devices).
LEASE = timedelta(minutes=5)


def payload_for(event: str) -> dict:
    return {"title": TITLE, "body": BODY, "url": URL_FOR_EVENT[event]}


@dataclass(frozen=True)
class Outcome:
    """What one HTTP call to a push service came to. `kind`: ok, gone, retry, rejected."""
    kind: str
    status: int | None = None
    retry_after: int | None = None

    @property
    def error(self) -> str:
        return f"http {self.status}" if self.status else "network"


class _Session:
    """Stands in for the `requests.Session` pywebpush posts through, so the POST goes through
    `server.outbound`: one total deadline for the whole call (requests' timeout is per read),
    the endpoint's address checked at connect time, no proxy and no redirect."""

    def __init__(self, timeout: float, allow_local: bool):
        self.timeout, self.allow_local = timeout, allow_local

    def post(self, url, data=None, headers=None, timeout=None):
        return _Response(outbound.post(url, data or b"", dict(headers or {}),
                                       timeout=self.timeout, loopback_ok=self.allow_local))


class _Response:
    """The parts of a `requests.Response` pywebpush and `send` read."""

    def __init__(self, answer: outbound.Answer):
        self.status_code, self.reason = answer.status, answer.reason
        self.headers, self.text = answer.headers, answer.text


def send(subscription: dict, payload: dict, ttl: int, urgency: str, *, vapid: Vapid,
         subject: str, timeout: float = SEND_TIMEOUT, topic: str | None = None,
         allow_local: bool = False) -> Outcome:
    """Encrypt and send one push to one device. Never raises for push-service trouble.

    `timeout` bounds the whole call. `allow_local` lets the call reach this machine (tests and a
    local push-service stand-in); otherwise only public addresses are called."""
    from pywebpush import WebPushException, webpush

    info = {"endpoint": subscription["endpoint"],
            "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]}}
    headers = {"Urgency": urgency}
    if topic:
        headers["Topic"] = topic
    try:
        resp = webpush(info, data=json.dumps(payload, separators=(",", ":")),
                       vapid_private_key=vapid,
                       vapid_claims={"sub": subject},  # fresh dict per call: webpush mutates it
                       ttl=ttl, timeout=timeout, headers=headers,
                       requests_session=_Session(timeout, allow_local))
    except WebPushException as exc:
        resp = exc.response
        if resp is None:
            return Outcome("rejected")
        status = resp.status_code
        if status in (404, 410):
            return Outcome("gone", status)
        if status == 429 or status >= 500:
            return Outcome("retry", status, retry.retry_after_seconds(resp.headers.get("Retry-After")))
        return Outcome("rejected", status)
    except (OSError, http.client.HTTPException):  # network, deadline, refused address
        return Outcome("retry")
    return Outcome("ok", resp.status_code)


def backoff(attempts: int, retry_after: int | None = None) -> timedelta:
    """Delay after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, capped at 30."""
    return retry.backoff(attempts, base=BACKOFF_BASE, cap=BACKOFF_CAP, retry_after=retry_after)


_MOOT = (
    "(event IN ('new', 'escalate', 'director') AND NOT EXISTS (SELECT 1 FROM signals s"
    "   WHERE s.id = push_jobs.signal_id AND s.state = 'received'))"
    " OR (event IN ('note', 'note_reminder') AND NOT EXISTS (SELECT 1 FROM signals s"
    "   WHERE s.id = push_jobs.signal_id"
    "   AND s.state = 'teacher_assigned' AND s.teacher_id = push_jobs.staff_id))"
    " OR (event IN ('note_unread', 'note_deadline') AND NOT EXISTS (SELECT 1 FROM signals s"
    "   WHERE s.id = push_jobs.signal_id AND s.state = 'teacher_assigned'))"
    " OR (event = 'told_reminder' AND NOT EXISTS (SELECT 1 FROM signals s"
    "   WHERE s.id = push_jobs.signal_id AND s.state = 'teacher_read'"
    "   AND s.teacher_informed_at IS NULL))"
    " OR (event = 'case_closing' AND NOT EXISTS (SELECT 1 FROM signals s"
    "   WHERE s.id = push_jobs.signal_id AND s.state IN ('opened', 'teacher_read')))")

_PENDING = "sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= :now"


def deliver_due(db, now: datetime, cfg, *, timeout: float | None = None,
                budget: float = RUN_BUDGET_SECONDS, monotonic=time.monotonic) -> dict:
    """Send every due job; one push per person, page and device, whatever the number of jobs,
    until the run's time `budget` (real seconds) is spent."""
    started = monotonic()
    timeout = SEND_TIMEOUT if timeout is None else timeout
    stamp = iso(now)
    counts = {"push_sent": 0, "push_retry": 0, "push_given_up": 0, "push_moot": 0,
              "push_devices_removed": 0}
    if db.conn.execute(f"SELECT 1 FROM push_jobs WHERE {_PENDING} LIMIT 1",
                       {"now": stamp}).fetchone() is None:
        return counts  # nothing due: no write transaction, so intake is never held up
    with write(db):
        # A signal already opened (or a note already read) needs no push any more.
        counts["push_moot"] = db.conn.execute(
            f"UPDATE push_jobs SET given_up_at = :now, last_error = 'moot'"
            f" WHERE {_PENDING} AND ({_MOOT})", {"now": stamp}).rowcount
        people = [r[0] for r in db.conn.execute(
            f"SELECT DISTINCT staff_id FROM push_jobs WHERE {_PENDING}", {"now": stamp})]
    if not people:
        return counts
    vapid, subject = load_vapid(cfg.data_dir), subject_for(cfg)
    schools = Calendars(db)
    notified: set[str] = set()
    for staff_id in people:
        if monotonic() - started >= budget:
            counts["push_deferred"] = 1  # unclaimed, so the next run sends them
            break
        with write(db):  # claim this person's due jobs (a lease against a parallel worker)
            cur = db.conn.execute(
                f"UPDATE push_jobs SET attempts = attempts + 1, next_attempt_at = :lease"
                f" WHERE staff_id = :staff AND {_PENDING} AND NOT ({_MOOT}) RETURNING *",
                {"now": stamp, "lease": iso(now + LEASE), "staff": staff_id})
            cols = [c[0] for c in cur.description]
            jobs = [dict(zip(cols, r)) for r in cur.fetchall()]
            devices = list(db.query("SELECT * FROM push_subscriptions WHERE staff_id = ?",
                                    (staff_id,)))
        by_url: dict[str, list[dict]] = {}
        for job in jobs:
            by_url.setdefault(URL_FOR_EVENT[job["event"]], []).append(job)
        for url, group in by_url.items():
            outcomes = {}
            for device in devices:
                if device["id"] in outcomes or not _still_there(db, device["id"]):
                    continue
                if not subscriptions.endpoint_allowed(device["endpoint"], allow_local=cfg.testing,
                                                      extra_hosts=cfg.push_hosts):
                    outcomes[device["id"]] = Outcome("gone")  # not a push service: forget it
                    continue
                outcomes[device["id"]] = send(
                    device, payload_for(group[0]["event"]), TTL_SECONDS, URGENCY,
                    vapid=vapid, subject=subject, timeout=timeout, topic=url.strip("/"),
                    allow_local=cfg.testing)
            result = _record(db, now, staff_id, group, outcomes, schools)
            for key, value in result.items():
                counts[key] += value
            if result["push_sent"]:
                notified.update(j["signal_id"] for j in group
                                if j["event"] in ("new", "escalate") and j["signal_id"])
    if notified:
        # The receipt and the director's monitoring show the first push.
        for signal_id in sorted(notified):
            signals.mark_notified(db, now, signal_id)
    return counts


def _still_there(db, device_id: int) -> bool:
    return db.conn.execute("SELECT 1 FROM push_subscriptions WHERE id = ?",
                           (device_id,)).fetchone() is not None


def _record(db, now, staff_id, group, outcomes: dict[int, Outcome], schools) -> dict:
    """Write what the sends came to. Only push tables change, never a signal's state."""
    stamp = iso(now)
    result = {"push_sent": 0, "push_retry": 0, "push_given_up": 0, "push_moot": 0,
              "push_devices_removed": 0}
    kinds = {o.kind for o in outcomes.values()}
    with write(db):
        for device_id, outcome in outcomes.items():
            if outcome.kind == "gone":
                result["push_devices_removed"] += db.conn.execute(
                    "DELETE FROM push_subscriptions WHERE id = ?", (device_id,)).rowcount
            elif outcome.kind == "ok":
                db.conn.execute("UPDATE push_subscriptions SET last_success_at = ? WHERE id = ?",
                                (stamp, device_id))
        for job in group:
            if "ok" in kinds:
                db.conn.execute("UPDATE push_jobs SET sent_at = ?, last_error = NULL"
                                " WHERE id = ?", (stamp, job["id"]))
                result["push_sent"] += 1
            elif "retry" in kinds and job["attempts"] < MAX_ATTEMPTS:
                worst = [o for o in outcomes.values() if o.kind == "retry"]
                delay = backoff(job["attempts"], max((o.retry_after or 0) for o in worst))
                school, holidays = _school_of(db, job, schools)
                when = now + delay
                if school is not None:
                    when = escalation.release_at(when, school, holidays)
                db.conn.execute("UPDATE push_jobs SET next_attempt_at = ?, last_error = ?"
                                " WHERE id = ?", (iso(when), worst[0].error, job["id"]))
                result["push_retry"] += 1
            else:
                if "retry" in kinds:
                    error = "failed: " + [o for o in outcomes.values()
                                          if o.kind == "retry"][0].error
                elif "rejected" in kinds:
                    error = "rejected: " + [o for o in outcomes.values()
                                            if o.kind == "rejected"][0].error
                elif "gone" in kinds:
                    error = "devices gone"
                else:
                    error = "no device"
                db.conn.execute("UPDATE push_jobs SET given_up_at = ?, last_error = ?"
                                " WHERE id = ?", (stamp, error, job["id"]))
                result["push_given_up"] += 1
    return result


def _school_of(db, job, schools):
    rows = list(db.query("SELECT school_id FROM signals WHERE id = ?", (job["signal_id"],)))
    if not rows:
        return None, ()
    return schools(rows[0]["school_id"])
