"""The VAPID key pair that identifies this server to push services, and the `sub` claim.

Created once with the data directory (`server.datadir`) and never overwritten: every browser
subscription is bound to the public key, so a new pair would silently orphan every device.
"""
from __future__ import annotations

import base64
import ipaddress
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

VAPID_PRIVATE = "vapid_private.pem"
VAPID_PUBLIC = "vapid_public.pem"
FALLBACK_DOMAIN = "hwc-inbox.nl"


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
