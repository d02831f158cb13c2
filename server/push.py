"""Web Push: VAPID keys, subscriptions, who is pushed when, and delivery with retries.

Pushes never carry personal data, a school name or a signal id - only one generic sentence and
the page to open. Nothing here can lose or delay a signal: the signal is stored before any push
is planned, and a push that fails only ever changes rows in `push_jobs` / `push_subscriptions`.

How it runs (all timers are derived from the database, so a restart loses none):

* `plan(db, now)` looks at signals and creates one `push_jobs` row per person and event once that
  event is due (`escalation.py` decides when). The UNIQUE (signal, staff, event) key and
  the "no such event planned yet" check make every event happen at most once.
* `deliver_due(db, now, cfg)` claims due jobs per person (a lease, so the sweep and a `kick`
  running side by side never send one job twice), sends one push per device, removes devices the
  push service says are gone (404/410) and retries the rest with exponential backoff.
* Both run from the minute sweep (`jobs.EXTRA_JOBS`); `kick(app)` runs them at once in a
  background thread right after a new signal, so the first push does not wait for the sweep.
"""
from __future__ import annotations

import base64
import functools
import binascii
import ipaddress
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from . import escalation
from .clock import iso, parse
from .db import write

log = logging.getLogger("hwc.push")

VAPID_PRIVATE = "vapid_private.pem"
VAPID_PUBLIC = "vapid_public.pem"

#: The one sentence a push ever says. No name, school, signal id or count.
BODY = "Er staat een nieuw bericht voor je klaar."
TITLE = "HwC Inbox"
URL_FOR_EVENT = {"new": "/inbox", "escalate": "/inbox", "note": "/notes"}
EVENTS = tuple(URL_FOR_EVENT)

#: A push the phone could not receive within 12 hours is stale: by then the morning is over and
#: the escalation, the inbox itself or the deadline has taken over. Pushes are held during quiet
#: hours, so 12 h covers a phone that is switched off until late morning.
TTL_SECONDS = 12 * 3600
#: Every push asks the person to act before school starts: wake the device.
URGENCY = "high"
#: Seconds per HTTP call to a push service.
SEND_TIMEOUT = 10
#: Attempts per job before it is given up (backoff 1, 2, 4, 8, 16, 30, 30 min: ~1.5 h in all).
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(minutes=30)
#: A claimed job is invisible to other workers this long (longer than sending to all devices).
LEASE = timedelta(minutes=5)
#: Devices per person; more is almost certainly forgotten phones.
MAX_SUBSCRIPTIONS = 10
FALLBACK_DOMAIN = "hwc-inbox.nl"


# --- VAPID keys -------------------------------------------------------------------------------

def ensure_vapid_keys(data_dir: Path) -> dict:
    """Create the VAPID key pair once; never overwrite (subscriptions are bound to it)."""
    private = Path(data_dir) / VAPID_PRIVATE
    if private.exists():
        return {}
    vapid = Vapid()
    vapid.generate_keys()
    vapid.save_key(str(private))
    vapid.save_public_key(str(Path(data_dir) / VAPID_PUBLIC))
    os.chmod(private, 0o600)
    return {VAPID_PRIVATE: True, VAPID_PUBLIC: True}


def application_server_key(data_dir: Path) -> str:
    """The public key as the browser's PushManager.subscribe() wants it (base64url, raw point)."""
    vapid = Vapid.from_file(str(Path(data_dir) / VAPID_PRIVATE))
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_vapid(data_dir: Path) -> Vapid:
    return Vapid.from_file(str(Path(data_dir) / VAPID_PRIVATE))


def subject_for(cfg) -> str:
    """The VAPID `sub` claim: a mailto on the server's own domain. Apple refuses `localhost`,
    so a local or IP-address base URL falls back to the product's domain."""
    host = (cfg.rp_id or "").lower()
    if not host or host == "localhost" or host.endswith(".localhost") or _is_ip(host):
        host = FALLBACK_DOMAIN
    return f"mailto:beheer@{host}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def payload_for(event: str) -> dict:
    return {"title": TITLE, "body": BODY, "url": URL_FOR_EVENT[event]}


# --- subscriptions ----------------------------------------------------------------------------

_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class SubscriptionError(ValueError):
    """A subscription was refused; the message is safe to show (Dutch)."""


def _b64url(text, want_len: int, what: str) -> bytes:
    if not isinstance(text, str) or not 0 < len(text) <= 200:
        raise SubscriptionError(f"De sleutel '{what}' ontbreekt of is ongeldig.")
    if not _B64URL.fullmatch(text):
        raise SubscriptionError(f"De sleutel '{what}' is geen geldige base64url.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SubscriptionError(f"De sleutel '{what}' is geen geldige base64url.") from None
    if len(raw) != want_len:
        raise SubscriptionError(f"De sleutel '{what}' heeft niet de juiste lengte.")
    return raw


def parse_subscription(obj, *, allow_local: bool = False) -> tuple[str, str, str]:
    """Validate a browser's PushSubscription JSON; returns (endpoint, p256dh, auth).

    The endpoint must be https on a public host name: the server will POST to it, so a
    subscription must not be able to point the server at itself or the internal network.
    `allow_local` admits http and loopback addresses (tests and a local push-service stand-in).
    """
    if not isinstance(obj, dict):
        raise SubscriptionError("Het abonnement ontbreekt.")
    endpoint, keys = obj.get("endpoint"), obj.get("keys")
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= 2048:
        raise SubscriptionError("Het adres van de pushdienst ontbreekt of is te lang.")
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SubscriptionError("Het adres van de pushdienst is ongeldig.") from None
    if parts.username or parts.password or not host or parts.fragment:
        raise SubscriptionError("Het adres van de pushdienst is ongeldig.")
    local_host = host == "localhost" or host.endswith(".localhost") or _is_ip(host)
    if allow_local:
        if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local_host):
            raise SubscriptionError("Het adres van de pushdienst moet https gebruiken.")
    elif parts.scheme != "https":
        raise SubscriptionError("Het adres van de pushdienst moet https gebruiken.")
    elif local_host or "." not in host:
        raise SubscriptionError("Het adres van de pushdienst is geen openbare pushdienst.")
    if not isinstance(keys, dict):
        raise SubscriptionError("De sleutels van het abonnement ontbreken.")
    p256dh_raw = _b64url(keys.get("p256dh"), 65, "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh_raw)
    except ValueError:
        raise SubscriptionError("De sleutel 'p256dh' is geen geldig P-256-punt.") from None
    _b64url(keys.get("auth"), 16, "auth")
    return endpoint, keys["p256dh"].rstrip("="), keys["auth"].rstrip("=")


def _clean_label(label) -> str:
    text = "".join(ch for ch in str(label or "") if ch.isprintable()).strip()
    return text[:60]


def label_from_user_agent(user_agent: str) -> str:
    """A coarse device name for the settings list ('Android-telefoon'), never the full string."""
    ua = user_agent or ""
    if "iPhone" in ua:
        return "iPhone"
    if "iPad" in ua:
        return "iPad"
    if "Android" in ua:
        return "Android-telefoon"
    for needle, label in (("Windows", "Windows-computer"), ("Macintosh", "Mac"),
                          ("CrOS", "Chromebook"), ("Linux", "Linux-computer")):
        if needle in ua:
            return label
    return "Onbekend apparaat"


def subscribe(db, staff_id: int, subscription_json, label: str, now: datetime, *,
              allow_local: bool = False) -> dict:
    """Store (or move to this person) a device's push subscription; returns its public row.

    An endpoint belongs to one browser profile; if someone else subscribed it before (a shared
    classroom PC), it now belongs to whoever subscribed last.
    """
    if isinstance(subscription_json, (str, bytes)):
        try:
            subscription_json = json.loads(subscription_json)
        except ValueError:
            raise SubscriptionError("Het abonnement is geen geldige JSON.") from None
    endpoint, p256dh, auth = parse_subscription(subscription_json, allow_local=allow_local)
    label = _clean_label(label)
    with write(db):
        person = list(db.query("SELECT active FROM staff WHERE id = ?", (staff_id,)))
        if not person or not person[0]["active"]:
            raise SubscriptionError("Dit account kan geen meldingen ontvangen.")
        others = db.conn.execute(
            "SELECT count(*) FROM push_subscriptions WHERE staff_id = ? AND endpoint != ?",
            (staff_id, endpoint)).fetchone()[0]
        if others >= MAX_SUBSCRIPTIONS:
            raise SubscriptionError(
                f"Je hebt al {MAX_SUBSCRIPTIONS} apparaten. Verwijder er eerst een.")
        db.conn.execute(
            "INSERT INTO push_subscriptions (staff_id, endpoint, p256dh, auth, user_agent_label,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET"
            " staff_id = excluded.staff_id, p256dh = excluded.p256dh, auth = excluded.auth,"
            " user_agent_label = excluded.user_agent_label, created_at = excluded.created_at,"
            " last_success_at = NULL",
            (staff_id, endpoint, p256dh, auth, label, iso(now)))
        row = list(db.query(
            "SELECT id, user_agent_label AS label, created_at, last_success_at"
            " FROM push_subscriptions WHERE endpoint = ?", (endpoint,)))[0]
    return row


def list_for(db, staff_id: int) -> list[dict]:
    """A person's devices for their settings page (the endpoint is a secret: not shown)."""
    return list(db.query(
        "SELECT id, user_agent_label AS label, created_at, last_success_at"
        " FROM push_subscriptions WHERE staff_id = ? ORDER BY created_at, id", (staff_id,)))


def remove(db, staff_id: int, sub_id: int) -> bool:
    """Remove one of this person's own devices; False if it is not theirs or already gone."""
    with write(db):
        cur = db.conn.execute("DELETE FROM push_subscriptions WHERE id = ? AND staff_id = ?",
                              (sub_id, staff_id))
    return cur.rowcount == 1


def set_away(db, staff_id: int, until: datetime | None, now: datetime) -> None:
    """'Afwezig tot ...': while away, a receiver's new signals go to the backups instead."""
    if until is not None:
        if until <= now:
            raise ValueError("away-until must be in the future")
        if until > now + timedelta(days=366):
            raise ValueError("away-until must be within a year")
    with write(db):
        cur = db.conn.execute("UPDATE staff SET away_until = ? WHERE id = ?",
                              (iso(until), staff_id))
        if cur.rowcount != 1:
            raise ValueError("no such staff member")


# --- who is pushed when -----------------------------------------------------------------------

def _staff_with_role(db, school_id: int, role: str) -> list[dict]:
    return list(db.query(
        "SELECT st.id, st.away_until FROM staff st JOIN staff_roles r ON r.staff_id = st.id"
        " WHERE st.school_id = ? AND st.active = 1 AND r.role = ? ORDER BY st.id",
        (school_id, role)))


def _present(rows: list[dict], now: datetime) -> list[dict]:
    stamp = iso(now)
    return [r for r in rows if not r["away_until"] or r["away_until"] <= stamp]


def _ids(rows) -> list[int]:
    return list(dict.fromkeys(r["id"] for r in rows))


def new_signal_recipients(db, school_id: int, now: datetime) -> list[int]:
    """The receivers who are present; if every receiver is away (or there is none), the present
    backups; if everyone is away, everyone - a missed signal is worse than a disturbed day off."""
    receivers = _staff_with_role(db, school_id, "receiver")
    backups = _staff_with_role(db, school_id, "backup")
    for group in (_present(receivers, now), _present(backups, now), receivers + backups):
        if group:
            return _ids(group)
    return []


def escalation_recipients(db, school_id: int, now: datetime) -> list[int]:
    """The present backups (all backups if every one is away)."""
    backups = _staff_with_role(db, school_id, "backup")
    return _ids(_present(backups, now) or backups)


class _Schools:
    """Per-plan cache of school settings and holidays."""

    def __init__(self, db):
        self.db, self._cache = db, {}

    def __call__(self, school_id: int):
        if school_id not in self._cache:
            school = list(self.db.query("SELECT * FROM schools WHERE id = ?", (school_id,)))[0]
            holidays = [(r["first_day"], r["last_day"]) for r in self.db.query(
                "SELECT first_day, last_day FROM holidays WHERE school_id = ?", (school_id,))]
            self._cache[school_id] = (school, holidays)
        return self._cache[school_id]


def _insert_jobs(db, signal_id: str, staff_ids, event: str, due: datetime) -> int:
    count = 0
    for staff_id in staff_ids:
        cur = db.conn.execute(
            "INSERT OR IGNORE INTO push_jobs (signal_id, staff_id, event, due_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?)", (signal_id, staff_id, event, iso(due), iso(due)))
        count += cur.rowcount
    return count


_SCHOOL_TIMES = ("start_time", "escalation_time", "escalation_delay_minutes", "quiet_start",
                 "quiet_end")


def _due(rule, stamp: str, school, holidays) -> datetime:
    """A push time by `rule`; if the school's calendar makes it impossible (a holiday that
    covers more than a year), push at once rather than never."""
    key = tuple(school.get(k) for k in _SCHOOL_TIMES)
    return _due_cached(rule, stamp, key, tuple(holidays))


@functools.lru_cache(maxsize=4096)
def _due_cached(rule, stamp: str, school_key: tuple, holidays: tuple) -> datetime:
    """Memo of the pure schedule rules: every plan looks at every waiting signal, and the
    answer only changes when the school's times or holidays do (they are part of the key)."""
    school = dict(zip(_SCHOOL_TIMES, school_key))
    try:
        return rule(parse(stamp), school, list(holidays))
    except ValueError:
        log.error("push time could not be computed for a school; sending without delay")
        return parse(stamp)


def plan(db, now: datetime) -> dict:
    """Create the push jobs that are due at `now`; idempotent (each event once per person).

    Recipients are chosen when the push is due, not when the signal arrived: a receiver who is
    away until Monday 09:00 is skipped for a signal held from Friday night to Monday 06:30.
    """
    schools = _Schools(db)
    planned = {"new": 0, "escalate": 0, "note": 0}
    # Decide with reads only; take the write lock only when there is something to write, so a
    # sweep or kick with nothing due never holds up incoming signals. INSERT OR IGNORE on the
    # UNIQUE key keeps it idempotent if two planners race; delivery drops jobs whose signal was
    # opened in between.
    todo: list[tuple[str, list, str, datetime]] = []
    for sig in list(db.query(
            "SELECT id, school_id, received_at FROM signals s WHERE state = 'received'"
            " AND NOT EXISTS (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id"
            " AND j.event = 'new')")):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.first_push_at, sig["received_at"], school, holidays)
        if due <= now:
            todo.append((sig["id"], new_signal_recipients(db, sig["school_id"], now), "new", due))
    for sig in list(db.query(
            "SELECT id, school_id, received_at FROM signals s WHERE state = 'received'"
            " AND NOT EXISTS (SELECT 1 FROM push_jobs j WHERE j.signal_id = s.id"
            " AND j.event = 'escalate')")):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.escalation_at, sig["received_at"], school, holidays)
        if due <= now:
            already = {r["staff_id"] for r in db.query(
                "SELECT staff_id FROM push_jobs WHERE signal_id = ?", (sig["id"],))}
            already |= {staff for sid, staff_ids, _e, _d in todo if sid == sig["id"]
                        for staff in staff_ids}
            backups = [b for b in escalation_recipients(db, sig["school_id"], now)
                       if b not in already]
            todo.append((sig["id"], backups, "escalate", due))
    for sig in list(db.query(
            "SELECT s.id, s.school_id, s.assigned_at, s.teacher_id FROM signals s"
            " JOIN staff st ON st.id = s.teacher_id AND st.active = 1"
            " WHERE s.state = 'teacher_assigned' AND NOT EXISTS (SELECT 1 FROM push_jobs j"
            " WHERE j.signal_id = s.id AND j.staff_id = s.teacher_id AND j.event = 'note')")):
        school, holidays = schools(sig["school_id"])
        due = _due(escalation.note_push_at, sig["assigned_at"], school, holidays)
        if due <= now:
            todo.append((sig["id"], [sig["teacher_id"]], "note", due))
    stale = db.conn.execute(
        "SELECT 1 FROM push_jobs WHERE signal_id IN (SELECT id FROM signals"
        " WHERE state IN ('closed', 'returned', 'expired')) LIMIT 1").fetchone()
    cleaned = 0
    # Only people with a device can be pushed: a job for someone without one could never be
    # delivered, and writing it would only hold up intake.
    with_device = {r[0] for r in db.conn.execute("SELECT DISTINCT staff_id FROM push_subscriptions")}
    todo = [(sid, [p for p in staff_ids if p in with_device], event, due)
            for sid, staff_ids, event, due in todo]
    todo = [t for t in todo if t[1]]
    if todo or stale:
        with write(db):
            # Jobs of ended signals are moot, and which staff were involved is forgotten.
            cleaned = db.conn.execute(
                "DELETE FROM push_jobs WHERE signal_id IN (SELECT id FROM signals"
                " WHERE state IN ('closed', 'returned', 'expired'))").rowcount
            for signal_id, staff_ids, event, due in todo:
                planned[event] += _insert_jobs(db, signal_id, staff_ids, event, due)
    return {"push_planned": sum(planned.values()), "push_jobs_cleaned": cleaned}


# --- sending ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What one HTTP call to a push service came to. `kind`: ok, gone, retry, rejected."""
    kind: str
    status: int | None = None
    retry_after: int | None = None

    @property
    def error(self) -> str:
        return f"http {self.status}" if self.status else "network"


def send(subscription: dict, payload: dict, ttl: int, urgency: str, *, vapid: Vapid,
         subject: str, timeout: float = SEND_TIMEOUT, topic: str | None = None) -> Outcome:
    """Encrypt and send one push to one device. Never raises for push-service trouble."""
    import requests
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
                       ttl=ttl, timeout=timeout, headers=headers)
    except WebPushException as exc:
        resp = exc.response
        if resp is None:
            return Outcome("rejected")
        status = resp.status_code
        if status in (404, 410):
            return Outcome("gone", status)
        if status == 429 or status >= 500:
            return Outcome("retry", status, _retry_after(resp.headers.get("Retry-After")))
        return Outcome("rejected", status)
    except requests.RequestException:
        return Outcome("retry")
    return Outcome("ok", resp.status_code)


def _retry_after(value) -> int | None:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return None


def backoff(attempts: int, retry_after: int | None = None) -> timedelta:
    """Delay after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, capped at 30."""
    delay = min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_CAP)
    if retry_after:
        delay = min(max(delay, timedelta(seconds=retry_after)), BACKOFF_CAP)
    return delay


_MOOT = (
    "(event IN ('new', 'escalate') AND NOT EXISTS (SELECT 1 FROM signals s"
    "   WHERE s.id = push_jobs.signal_id AND s.state = 'received'))"
    " OR (event = 'note' AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.id = push_jobs.signal_id"
    "   AND s.state = 'teacher_assigned' AND s.teacher_id = push_jobs.staff_id))")

_PENDING = "sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= :now"


def deliver_due(db, now: datetime, cfg, *, timeout: float = SEND_TIMEOUT) -> dict:
    """Send every due job; one push per person, page and device, whatever the number of jobs."""
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
    schools = _Schools(db)
    notified: set[str] = set()
    for staff_id in people:
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
                outcomes[device["id"]] = send(
                    device, payload_for(group[0]["event"]), TTL_SECONDS, URGENCY,
                    vapid=vapid, subject=subject, timeout=timeout, topic=url.strip("/"))
            result = _record(db, now, staff_id, group, outcomes, schools)
            for key, value in result.items():
                counts[key] += value
            if result["push_sent"]:
                notified.update(j["signal_id"] for j in group
                                if j["event"] in ("new", "escalate") and j["signal_id"])
    if notified:
        from . import signals  # the receipt and the director's monitoring show the first push
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


# --- running ----------------------------------------------------------------------------------

def sweep_job(db, now: datetime, cfg) -> dict:
    """The minute sweep's push step (registered in `jobs.EXTRA_JOBS`)."""
    result = plan(db, now)
    result.update(deliver_due(db, now, cfg))
    return result


def run_now(cfg, clock) -> dict:
    from . import db as db_mod
    database = db_mod.connect(cfg.data_dir)
    try:
        return sweep_job(database, clock.now(), cfg)
    finally:
        database.close()


class Kicker:
    """Runs plan + deliver in a short-lived background thread, coalescing bursts of kicks.

    The thread exits when there is nothing left to do, so idle apps keep no thread around.
    Any failure is logged by type only; the sweep will try again within a minute.
    """

    def __init__(self, cfg, clock):
        self.cfg, self.clock = cfg, clock
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()

    def kick(self) -> None:
        with self._lock:
            self._pending = True
            if self._thread is not None:
                return
            self.idle.clear()
            self._thread = threading.Thread(target=self._run, name="hwc-push-kick", daemon=True)
            self._thread.start()

    #: A short pause before planning, so a municipality's batch of signals wakes the planner
    #: once, and its reads do not hold up the commits of the signals still arriving (in a
    #: rollback journal, a reader delays a writer's commit).
    DEBOUNCE_SECONDS = 0.3

    def _run(self) -> None:
        threading.Event().wait(self.DEBOUNCE_SECONDS)
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    self.idle.set()
                    return
                self._pending = False
            try:
                run_now(self.cfg, self.clock)
            except Exception as exc:  # never the message: it could hold an endpoint
                log.error("push kick failed: %s", type(exc).__name__)


_kicker_lock = threading.Lock()


def kicker_for(app) -> Kicker:
    with _kicker_lock:
        kicker = app.extensions.get("hwc_push_kicker")
        if kicker is None:
            kicker = Kicker(app.config["HWC"], app.extensions["hwc_clock"])
            app.extensions["hwc_push_kicker"] = kicker
        return kicker


def kick(app) -> None:
    """Deliver the first push of a new signal now instead of at the next sweep.

    Returns at once and never raises: a push problem must not touch the API's answer.
    Disabled with `extra={"push_kick": False}` in the app's config overrides.
    """
    try:
        if app.config["HWC"].extra.get("push_kick", True) is False:
            return
        kicker_for(app).kick()
    except Exception as exc:
        log.error("push kick not started: %s", type(exc).__name__)


def register() -> None:
    """Add the push step to the sweep (idempotent)."""
    from . import jobs
    if sweep_job not in jobs.EXTRA_JOBS:
        jobs.EXTRA_JOBS.append(sweep_job)


register()
