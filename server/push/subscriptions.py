"""Devices that receive a person's pushes: validating a browser's PushSubscription, storing,
listing and removing it. The endpoint is where the server will POST, so it is checked as an
address the server may connect to (see `server.outbound`)."""
from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from ..clock import iso
from ..db import write
from .vapid import _is_ip

#: Devices per person; more is almost certainly forgotten phones.
MAX_SUBSCRIPTIONS = 10

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
