"""Sealing to a person's phone: encryption the server itself cannot undo. No Flask, no database.

A phone's passkey evaluates the WebAuthn PRF extension with the person's salt; the browser
stretches that output (HKDF-SHA256, `DEVICE_KEY_INFO`) into an X25519 private key, which never
leaves the page's memory, and tells the server only the public key (`devicekeys`). To seal, the
server does what HPKE's base mode does, spelled out so the browser can undo it with WebCrypto
alone (static/js/sealed.js): a fresh ephemeral X25519 key, ECDH with the phone's public key,
HKDF-SHA256 over the shared secret (salt = ephemeral ‖ recipient public key, so a key is bound to
both ends) into an AES-256-GCM key, a random nonce, and the signal id as associated data (an
entry copied onto another signal does not open). The ephemeral private key is dropped at once:
after `seal` returns, nothing on the server can open the entry. See ADR 0013.

An entry is a small JSON-able dict of base64url strings: `pub` (the recipient's public key, so
the server can tell which phone it is for), `epk`, `nonce`, `ct`.
"""
from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: HKDF info strings; the browser uses the same (static/js/sealed.js).
DEVICE_KEY_INFO = b"hwc-inbox/v1/device-key"
SEAL_INFO = b"hwc-inbox/v1/device-seal"
KEY_BYTES = 32
#: An entry's ciphertext is a child's name and birth date as JSON plus the 16-byte tag: far less
#: than this. A bound keeps a hostile browser from storing megabytes through the note form.
MAX_CIPHERTEXT = 2048
ENTRY_FIELDS = ("pub", "epk", "nonce", "ct")


class BadEntry(ValueError):
    """A sealed entry that is not well-formed (sent by a browser, or damaged)."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > 4 * MAX_CIPHERTEXT:
        raise BadEntry("not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadEntry("not base64url text") from None


def aad(signal_id: str) -> bytes:
    """The associated data of every device entry of a signal (the browser builds the same)."""
    return f"hwc-inbox/v1/{signal_id}/device".encode()


def public_key(raw: bytes) -> bytes:
    """Check that `raw` is an X25519 public key a phone could hold; return it. BadEntry if not.

    A low-order point (0, 1, p-1, the points of order 8) gives no shared secret: stored, it
    would make every later seal to it fail — and with it every intake of the school. A trial
    exchange refuses them all."""
    if not isinstance(raw, bytes) or len(raw) != KEY_BYTES:
        raise BadEntry("a device key is 32 bytes")
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise BadEntry("a low-order point is no key") from None
    return raw


def _aead_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    if shared == bytes(KEY_BYTES):  # a low-order point: refuse, as HPKE does
        raise BadEntry("degenerate shared secret")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient,
                info=SEAL_INFO).derive(shared)


def seal(recipient: bytes, plaintext: bytes, associated: bytes) -> dict:
    """Encrypt to one phone's public key. Nothing kept here can decrypt the result."""
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes_raw()
    key = _aead_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), epk,
                    recipient)
    nonce = os.urandom(12)
    return {"pub": b64(recipient), "epk": b64(epk), "nonce": b64(nonce),
            "ct": b64(AESGCM(key).encrypt(nonce, plaintext, associated))}


def check_entry(entry: object) -> dict:
    """A well-formed entry (from a browser: the receiver's note to a teacher) or BadEntry."""
    if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
        raise BadEntry("an entry has exactly pub, epk, nonce and ct")
    public_key(unb64(entry["pub"]))
    if len(unb64(entry["epk"])) != KEY_BYTES or len(unb64(entry["nonce"])) != 12:
        raise BadEntry("wrong key or nonce length")
    if not 16 < len(unb64(entry["ct"])) <= MAX_CIPHERTEXT:
        raise BadEntry("ciphertext size out of bounds")
    return {field: entry[field] for field in ENTRY_FIELDS}


# --- what a phone does (the browser's code, in Python for the tests and the threat model) ------

def device_private_key(prf_output: bytes) -> X25519PrivateKey:
    """The phone's private key from its PRF output (static/js/sealed.js does the same)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=DEVICE_KEY_INFO).derive(prf_output)
    return X25519PrivateKey.from_private_bytes(raw)


def device_public_key(prf_output: bytes) -> bytes:
    return device_private_key(prf_output).public_key().public_bytes_raw()


def open_entry(private: X25519PrivateKey, entry: dict, associated: bytes) -> bytes:
    """Decrypt an entry with the phone's private key. BadEntry if it does not authenticate."""
    recipient = private.public_key().public_bytes_raw()
    epk = unb64(entry["epk"])
    key = _aead_key(private.exchange(X25519PublicKey.from_public_bytes(epk)), epk, recipient)
    try:
        return AESGCM(key).decrypt(unb64(entry["nonce"]), unb64(entry["ct"]), associated)
    except InvalidTag:
        raise BadEntry("entry does not authenticate") from None
