"""A local stand-in for a push service (FCM, Mozilla, Apple) and a test device's keys.

The service records every request; tests decrypt the bodies with the device's private key and
check the VAPID header for real, so encryption and signing are exercised, not mocked.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's push subscription: endpoint, P-256 key pair and 16-byte auth secret."""
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth_secret)}}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.private_key,
                                 auth_secret=self.auth_secret, version="aes128gcm")
        return json.loads(plain)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: object  # the FakeClock's time when the request arrived


class PushService:
    """Plays the push service on 127.0.0.1; `status[path]` sets the answer (default 201)."""

    def __init__(self, clock=None, delay: float = 0.0):
        self.clock, self.delay = clock, delay
        self.received: list[Received] = []
        self.status: dict[str, int] = {}
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if service.delay:
                    time.sleep(service.delay)  # only to make concurrent senders overlap
                with service.lock:
                    service.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                        service.clock.now() if service.clock else None))
                    code = service.status.get(self.path, 201)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def device(self, name: str) -> Device:
        return Device(f"{self.origin}/push/{name}")

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.received]


def verify_vapid(authorization: str, public_pem: bytes, server_key_b64: str, origin: str,
                 now: float | None = None) -> dict:
    """Check a `vapid t=JWT,k=key` header (RFC 8292) and return the JWT claims."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization[:10]
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == server_key_b64
    public = serialization.load_pem_public_key(public_pem)
    raw = public.public_bytes(serialization.Encoding.X962,
                              serialization.PublicFormat.UncompressedPoint)
    assert unb64url(parts["k"]) == raw, "k is not the server's VAPID public key"
    header_b64, claims_b64, sig_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256"
    sig = unb64url(sig_b64)
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(unb64url(claims_b64))
    now = time.time() if now is None else now
    assert claims["aud"] == origin
    assert now < claims["exp"] <= now + 24 * 3600
    assert claims["sub"].startswith("mailto:") and "@" in claims["sub"]
    assert "localhost" not in claims["sub"]
    return claims


def set_away(db, staff_id, until, now):
    """'Afwezig tot' as /me sets it (`staff.set_away`, which needs the person's school)."""
    from server import staff as staff_mod
    row = db.conn.execute("SELECT school_id FROM staff WHERE id = ?", (staff_id,)).fetchone()
    staff_mod.set_away(db, now, staff_id, row[0] if row else 0, until)
