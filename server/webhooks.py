"""Receipts pushed back: deliver the receipt outbox (`receipt_events`) to municipality webhooks.

`signals.py` writes one outbox row per receipt change in the transition's own transaction, so a
change is never lost. This job POSTs them, per municipality strictly in order (event N+1 is never
sent before N succeeded), signed with HMAC-SHA256, with exponential backoff between attempts. The
body is the receipt the API already shows: the municipality's reference, a status and
timestamps — no personal data.

Delivery is at-least-once: if the receiver answers 2xx we never send the event again, but a crash
between sending and recording can repeat it, so each event carries a stable id to de-duplicate on.

The signing secret is stored as-is in `municipalities.webhook_secret` (hwc.db): HMAC needs the
raw secret, so it cannot be hashed like the API token. It is not personal data and only lets its
holder forge receipts *to* that municipality; it is shown once and rotated with
`hwc-inbox municipality webhook`. It is deliberately not in keys.db, which is never backed up:
a restore would otherwise silently break every webhook.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from . import outbound, retry
from .clock import iso
from .db import write

log = logging.getLogger("hwc.webhooks")

SIGNATURE_HEADER = "X-HwC-Signature"
EVENT_ID_HEADER = "X-HwC-Event-Id"
TIMEOUT_SECONDS = 10
#: While one runner is sending an event, others leave it alone this long (more than the timeout).
LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
#: Delivered events are kept this long (for support questions), then purged; an event that could
#: not be delivered in this time is given up (its receipt is purged by then as well).
RETENTION = timedelta(days=30)
#: At most this many events per municipality per run, so one busy receiver cannot starve others.
BATCH = 100
#: No new delivery starts after a run has taken this long (each call is bounded by its own
#: TIMEOUT_SECONDS), so one slow receiver holds the webhook worker for a minute at most; what is
#: left is sent in the next run.
RUN_BUDGET_SECONDS = 45
#: Receivers should refuse signatures older than this (replay protection); see docs.
TOLERANCE_SECONDS = 300
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class WebhookError(ValueError):
    pass


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(32)


def validate_url(url: str) -> str:
    """An https URL (plain http only to this machine, for tests); no credentials, no fragment."""
    url = (url or "").strip()
    if not url or len(url) > 2000:
        raise WebhookError("the webhook URL must be 1-2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise WebhookError("the webhook URL is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError("the webhook URL must be an absolute https:// URL")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise WebhookError("the webhook URL must use https (http only for localhost)")
    if parts.username or parts.password:
        raise WebhookError("the webhook URL must not contain a user name or password")
    if parts.fragment:
        raise WebhookError("the webhook URL must not contain a fragment (#)")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookError("the webhook URL must not contain spaces or control characters")
    del port
    return url


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, now_unix: int,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does (the docs show the same code): check the MAC and the timestamp."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now_unix - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 1, 2, 4, … minutes, at most an hour."""
    return retry.backoff(attempts, base=BACKOFF_BASE, cap=BACKOFF_CAP)


def payload(event: dict) -> bytes:
    return json.dumps({"id": event["id"], "type": "receipt.changed",
                       "created_at": event["created_at"],
                       "receipt": json.loads(event["receipt"])},
                      separators=(",", ":"), sort_keys=True).encode()


def post(url: str, body: bytes, headers: dict, timeout: float | None = None) -> str | None:
    """POST once; None on a 2xx answer, else a short reason (never the answer's body).

    `timeout` is the whole call's deadline (`server.outbound`), so a receiver that trickles its
    answer cannot hold the webhook worker for longer. Redirects are never followed: a receipt goes
    to the registered URL or nowhere. The URL is the operator's (`hwc-inbox municipality
    webhook`), so an address on the municipality's own network is allowed."""
    try:
        answer = outbound.post(url, body, {"Content-Type": "application/json",
                                           "User-Agent": "hwc-inbox-webhook/1", **headers},
                               timeout=TIMEOUT_SECONDS if timeout is None else timeout,
                               private_ok=True, max_answer=1024)
    except OSError as exc:
        return f"connection failed ({type(exc).__name__})"
    except Exception as exc:  # a broken peer (BadStatusLine, IncompleteRead, …) is a failure too
        return f"bad answer ({type(exc).__name__})"
    if 200 <= answer.status < 300:
        return None
    if 300 <= answer.status < 400:
        return f"redirect not followed (HTTP {answer.status})"
    return f"HTTP {answer.status}"


def purge(db, now: datetime, retention: timedelta = RETENTION) -> dict:
    """Delivered events after `retention` (the receipts' own purge time, so no copy of a receipt
    outlives the receipt); undelivered ones older than that are given up."""
    cutoff = iso(now - retention)
    with write(db):
        done = db.conn.execute(
            "DELETE FROM receipt_events WHERE delivered_at IS NOT NULL AND delivered_at <= ?",
            (cutoff,)).rowcount
        abandoned = db.conn.execute(
            "DELETE FROM receipt_events WHERE delivered_at IS NULL AND created_at <= ?",
            (cutoff,)).rowcount
    if abandoned:
        log.warning("gave up %d webhook event(s) after %d days", abandoned, retention.days)
    return {"webhook_events_purged": done, "webhook_events_abandoned": abandoned}


def _claim(db, municipality_id: int, now: datetime) -> tuple[dict, dict] | None:
    """The municipality's oldest undelivered event if it is due, leased to this runner."""
    with write(db):
        rows = list(db.query(
            "SELECT webhook_url, webhook_secret FROM municipalities"
            " WHERE id = ? AND revoked_at IS NULL AND webhook_url IS NOT NULL",
            (municipality_id,)))
        if not rows:
            return None
        head = list(db.query(
            "SELECT * FROM receipt_events WHERE municipality_id = ? AND delivered_at IS NULL"
            " ORDER BY id LIMIT 1", (municipality_id,)))
        if not head or head[0]["next_attempt_at"] > iso(now):
            return None
        db.conn.execute("UPDATE receipt_events SET next_attempt_at = ? WHERE id = ?",
                        (iso(now + LEASE), head[0]["id"]))
        return rows[0], head[0]


def deliver_due(db, now: datetime, cfg=None, *, send=post, budget: float = RUN_BUDGET_SECONDS,
                monotonic=time.monotonic) -> dict:
    """The sweep job: purge, then deliver what is due, in order per municipality, until the
    run's time `budget` (real seconds) is spent."""
    started = monotonic()
    result = {"webhooks_delivered": 0, "webhooks_failed": 0}
    retention = timedelta(days=cfg.receipt_purge_days) if cfg is not None else RETENTION
    result.update(purge(db, now, retention))
    municipality_ids = [r["municipality_id"] for r in db.query(
        "SELECT DISTINCT municipality_id FROM receipt_events WHERE delivered_at IS NULL"
        " ORDER BY municipality_id")]
    for municipality_id in municipality_ids:
        for _ in range(BATCH):
            if monotonic() - started >= budget:
                result["webhooks_deferred"] = 1
                return result
            claimed = _claim(db, municipality_id, now)
            if claimed is None:
                break
            target, event = claimed
            body = payload(event)
            headers = {SIGNATURE_HEADER: sign(target["webhook_secret"], body,
                                              int(now.timestamp())),
                       EVENT_ID_HEADER: str(event["id"])}
            problem = send(target["webhook_url"], body, headers)
            attempts = event["attempts"] + 1
            with write(db):
                if problem is None:
                    db.conn.execute(
                        "UPDATE receipt_events SET delivered_at = ?, attempts = ?,"
                        " last_error = NULL WHERE id = ?", (iso(now), attempts, event["id"]))
                else:
                    db.conn.execute(
                        "UPDATE receipt_events SET attempts = ?, next_attempt_at = ?,"
                        " last_error = ? WHERE id = ?",
                        (attempts, iso(now + backoff(attempts)), problem[:200], event["id"]))
            if problem is not None:
                result["webhooks_failed"] += 1
                log.warning("webhook delivery failed: municipality=%s event=%s attempt=%d: %s",
                            municipality_id, event["id"], attempts, problem)
                break  # strictly in order: nothing after a failed event
            result["webhooks_delivered"] += 1
    return result

