"""Devices that receive a person's pushes: validating a browser's PushSubscription, storing,
listing and removing it. The endpoint is where the server will POST, so it must be a push
service a browser could have given (`PUSH_SERVICE_HOSTS`, extended by the operator with
`HWC_PUSH_HOSTS`), and the address it resolves to is checked again when the server connects
(`server.outbound`)."""
from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from ..clock import iso
from ..config import PUSH_HOST_PATTERN
from ..db import write

#: Devices per person; more is almost certainly forgotten phones.
MAX_SUBSCRIPTIONS = 10

_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")

#: The push services of the browsers people use (Chrome/Edge on Android and desktop: FCM;
#: Firefox: Mozilla autopush; Safari and iOS home-screen apps: Apple; legacy Edge: WNS).
#: `*.` admits every name under that domain. An operator adds hosts with HWC_PUSH_HOSTS.
PUSH_SERVICE_HOSTS = ("fcm.googleapis.com", "updates.push.services.mozilla.com",
                      "*.push.services.mozilla.com", "*.push.apple.com", "*.notify.windows.com")
_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


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


def host_allowed(host: str, extra_hosts=()) -> bool:
    """Whether `host` (as written in the URL) is one of the allowed push services. Only the exact
    canonical spelling counts: no trailing dot, no numeric form (`127.1`, `0x7f.1`), nothing the
    resolver could read as another name - a host either equals an entry or ends with `.entry`."""
    if not PUSH_HOST_PATTERN.fullmatch(host) or host.startswith("*"):
        return False
    for entry in (*PUSH_SERVICE_HOSTS, *extra_hosts):
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


def _is_local(host: str) -> bool:
    """This machine, in the spelling the test push service uses (canonical only)."""
    return host in _LOCAL_NAMES


def check_endpoint(endpoint, *, allow_local: bool = False, extra_hosts=()) -> str:
    """The endpoint if the server may POST to it, else SubscriptionError (Dutch, safe to show).

    It must be https on a known push service (`host_allowed`): a subscription must not be able to
    point the server at itself or the internal network (`https://127.1/`, `https://0x7f.1/`,
    `https://localhost./` are all loopback to the resolver). `allow_local` also admits http(s)
    to this machine (tests and a local push-service stand-in). Checked at subscribe time and
    again before every send, so a host dropped from the allow-list is no longer called."""
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= 2048:
        raise SubscriptionError("Het adres van de pushdienst ontbreekt of is te lang.")
    if not endpoint.isascii() or any(ch.isspace() or ord(ch) < 32 for ch in endpoint):
        raise SubscriptionError("Het adres van de pushdienst is ongeldig.")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise SubscriptionError("Het adres van de pushdienst is ongeldig.") from None
    if parts.username or parts.password or not host or parts.fragment:
        raise SubscriptionError("Het adres van de pushdienst is ongeldig.")
    if allow_local and _is_local(host):
        if parts.scheme not in ("https", "http"):
            raise SubscriptionError("Het adres van de pushdienst moet https gebruiken.")
    elif parts.scheme != "https":
        raise SubscriptionError("Het adres van de pushdienst moet https gebruiken.")
    elif port not in (None, 443) or not host_allowed(host, extra_hosts):
        raise SubscriptionError("Het adres van de pushdienst is geen openbare pushdienst.")
    return endpoint


def endpoint_allowed(endpoint, *, allow_local: bool = False, extra_hosts=()) -> bool:
    try:
        check_endpoint(endpoint, allow_local=allow_local, extra_hosts=extra_hosts)
    except SubscriptionError:
        return False
    return True


def parse_subscription(obj, *, allow_local: bool = False,
                       extra_hosts=()) -> tuple[str, str, str]:
    """Validate a browser's PushSubscription JSON; returns (endpoint, p256dh, auth)."""
    if not isinstance(obj, dict):
        raise SubscriptionError("Het abonnement ontbreekt.")
    endpoint, keys = obj.get("endpoint"), obj.get("keys")
    check_endpoint(endpoint, allow_local=allow_local, extra_hosts=extra_hosts)
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
              allow_local: bool = False, extra_hosts=()) -> dict:
    """Store (or move to this person) a device's push subscription; returns its public row.

    An endpoint belongs to one browser profile; if someone else subscribed it before (a shared
    classroom PC), it now belongs to whoever subscribed last.
    """
    if isinstance(subscription_json, (str, bytes)):
        try:
            subscription_json = json.loads(subscription_json)
        except ValueError:
            raise SubscriptionError("Het abonnement is geen geldige JSON.") from None
    endpoint, p256dh, auth = parse_subscription(subscription_json, allow_local=allow_local,
                                                extra_hosts=extra_hosts)
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
