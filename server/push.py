"""Web Push: VAPID keys (made at `init`). Sending, subscriptions and escalation build on this.

Pushes never carry personal data, a school name or a signal id — only a generic sentence.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

VAPID_PRIVATE = "vapid_private.pem"
VAPID_PUBLIC = "vapid_public.pem"


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
