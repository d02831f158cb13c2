"""Secrets that are handed out once and kept only as a digest.

Invite links, API tokens, session ids and WebAuthn challenges are all random values of at least
256 bits that the server must recognise later without storing them: a plain SHA-256 is enough for
that (no salt or slow hash is needed for values nobody can guess), and one helper keeps every
table using the same encoding.
"""
from __future__ import annotations

import hashlib
import secrets


def digest(value: str | bytes) -> str:
    """Hex SHA-256 of a token; str is encoded as UTF-8 (lone surrogates kept, never an error)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    return hashlib.sha256(value).hexdigest()


def new_token(prefix: str = "") -> str:
    """A fresh URL-safe token of 256 bits."""
    return prefix + secrets.token_urlsafe(32)
