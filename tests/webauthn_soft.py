"""A software authenticator for tests: real P-256 keys, real signatures, real CBOR.

It builds clientDataJSON, authenticatorData and a fmt "none" attestationObject the way a
browser and a platform authenticator do, so py_webauthn's verification runs unmocked. Knobs let
a test break exactly one thing (origin, user verification, sign count, user handle).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        nums = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"),
                            -3: nums.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    """One device holding discoverable credentials, like a phone's passkey store."""

    origin: str = "http://localhost:8000"
    credentials: dict = field(default_factory=dict)  # credential_id -> SoftCredential
    aaguid: bytes = b"\x00" * 16

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}, separators=(",", ":")).encode()

    def create(self, options: dict, *, origin: str | None = None, uv: bool = True,
               rp_id: str | None = None) -> dict:
        """navigator.credentials.create() for `options` (the JSON the server sent)."""
        rp_id = rp_id or options["rp"]["id"]
        cred = SoftCredential(os.urandom(32), ec.generate_private_key(ec.SECP256R1()),
                              unb64u(options["user"]["id"]), rp_id)
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if uv else 0)
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
                     + struct.pack(">I", cred.sign_count) + self.aaguid
                     + struct.pack(">H", len(cred.credential_id)) + cred.credential_id
                     + cred.cose_public_key())
        att_obj = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        self.credentials[cred.credential_id] = cred
        return {"id": b64u(cred.credential_id), "rawId": b64u(cred.credential_id),
                "type": "public-key", "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
                "response": {"clientDataJSON": b64u(client_data),
                             "attestationObject": b64u(att_obj), "transports": ["internal"]}}

    def get(self, options: dict, *, origin: str | None = None, uv: bool = True,
            credential_id: bytes | None = None, sign_count: int | None = None,
            user_handle: bytes | None = None, rp_id: str | None = None) -> dict:
        """navigator.credentials.get(): sign with the chosen (or only/first allowed) credential."""
        if credential_id is None:
            allowed = [unb64u(d["id"]) for d in options.get("allowCredentials") or []]
            mine = [c for c in self.credentials if not allowed or c in allowed]
            if not mine:
                raise LookupError("no matching credential on this authenticator")
            credential_id = mine[0]
        cred = self.credentials[credential_id]
        cred.sign_count = cred.sign_count + 1 if sign_count is None else sign_count
        flags = FLAG_UP | (FLAG_UV if uv else 0)
        auth_data = (hashlib.sha256((rp_id or options.get("rpId") or cred.rp_id).encode()).digest()
                     + bytes([flags]) + struct.pack(">I", cred.sign_count))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = cred.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                          ec.ECDSA(hashes.SHA256()))
        handle = cred.user_handle if user_handle is None else user_handle
        return {"id": b64u(credential_id), "rawId": b64u(credential_id), "type": "public-key",
                "clientExtensionResults": {}, "authenticatorAttachment": "platform",
                "response": {"clientDataJSON": b64u(client_data),
                             "authenticatorData": b64u(auth_data), "signature": b64u(signature),
                             "userHandle": b64u(handle)}}
