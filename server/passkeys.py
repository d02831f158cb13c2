"""Passkey ceremonies (WebAuthn, via py_webauthn), without Flask.

- Challenges live in `webauthn_challenges`, are found by the challenge the browser echoes in
  clientDataJSON, deleted on first use and refused after 5 minutes.
- rp_id and origin are passed in by the caller (from HWC_BASE_URL), never taken from a request.
- Every refusal raises `Refused` with a short code for the log; people only ever hear
  `GENERIC_FAIL`, which never says whether a person or passkey exists.
"""
from __future__ import annotations

import functools
import hmac
import json
import os
from datetime import datetime, timedelta
from types import SimpleNamespace

from . import device_seal
from . import staff as staff_mod
from .clock import iso, parse
from .db import write
from .tokens import digest

CHALLENGE_TTL = timedelta(minutes=5)
#: At most this many live challenges of one purpose. Issuing one is never refused (refusing
#: would let a flood deny login to everyone); past the bound the oldest of that purpose go.
#: A real person's ceremony takes seconds, so a flood must issue this many within those
#: seconds to break one — far more than the server can be made to do.
MAX_OUTSTANDING_CHALLENGES = 5000


@functools.cache
def _wa() -> SimpleNamespace:
    """py_webauthn, loaded at the first ceremony rather than at start: with its CBOR and
    OpenSSL bindings it is ~14 MiB of the server's memory, which a server that nobody logs in to
    overnight need not hold."""
    from webauthn import (
        generate_authentication_options,
        generate_registration_options,
        options_to_json,
        verify_authentication_response,
        verify_registration_response,
    )
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.cose import COSEAlgorithmIdentifier as Alg
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )
    return SimpleNamespace(
        generate_authentication_options=generate_authentication_options,
        generate_registration_options=generate_registration_options,
        options_to_json=options_to_json,
        verify_authentication_response=verify_authentication_response,
        verify_registration_response=verify_registration_response,
        base64url_to_bytes=base64url_to_bytes,
        AttestationConveyancePreference=AttestationConveyancePreference,
        AuthenticatorSelectionCriteria=AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor=PublicKeyCredentialDescriptor,
        ResidentKeyRequirement=ResidentKeyRequirement,
        UserVerificationRequirement=UserVerificationRequirement,
        ALGORITHMS=[Alg.ECDSA_SHA_256, Alg.EDDSA, Alg.RSASSA_PKCS1_v1_5_SHA_256])
GENERIC_FAIL = "Inloggen lukte niet. Probeer het opnieuw."


def issue_challenge(db, at: datetime, purpose: str, *, invite_id=None, staff_id=None) -> bytes:
    challenge = os.urandom(32)
    with write(db):
        db.conn.execute("DELETE FROM webauthn_challenges WHERE expires_at <= ?", (iso(at),))
        db.conn.execute(
            "DELETE FROM webauthn_challenges WHERE challenge_hash IN (SELECT challenge_hash FROM"
            " webauthn_challenges WHERE purpose = ? ORDER BY created_at DESC, rowid DESC"
            " LIMIT -1 OFFSET ?)", (purpose, MAX_OUTSTANDING_CHALLENGES - 1))
        db["webauthn_challenges"].insert({
            "challenge_hash": digest(challenge), "purpose": purpose, "challenge": challenge,
            "invite_id": invite_id, "staff_id": staff_id, "created_at": iso(at),
            "expires_at": iso(at + CHALLENGE_TTL)})
    return challenge


def consume_challenge(db, at: datetime, challenge: bytes, purpose: str) -> dict | None:
    """Delete the challenge (single use) and return it if it was live and for this purpose."""
    with write(db):
        rows = db.conn.execute(
            "DELETE FROM webauthn_challenges WHERE challenge_hash = ? "
            "RETURNING purpose, challenge, invite_id, staff_id, expires_at",
            (digest(challenge),)).fetchall()
    if not rows:
        return None
    purpose_, stored, invite_id, staff_id, expires_at = rows[0]
    if purpose_ != purpose or parse(expires_at) <= at or not hmac.compare_digest(stored, challenge):
        return None
    return {"challenge": stored, "invite_id": invite_id, "staff_id": staff_id}


def _echoed_challenge(credential: dict) -> bytes:
    client_data = json.loads(_wa().base64url_to_bytes(credential["response"]["clientDataJSON"]))
    return _wa().base64url_to_bytes(client_data["challenge"])


class Refused(Exception):
    """A ceremony failed; the client only ever hears GENERIC_FAIL."""


def verify_assertion(db, at: datetime, credential: dict, purpose: str, *, rp_id: str,
                     origin: str, staff_id: int | None = None) -> dict:
    """Check an assertion fully; return the passkey row (with owner). Raises Refused."""
    try:
        challenge = _echoed_challenge(credential)
        raw_id = _wa().base64url_to_bytes(credential["rawId"])
    except Exception:
        raise Refused("malformed") from None
    # One transaction for the challenge's single use and the passkey's new sign count (one
    # commit instead of two). A refusal must still use up the challenge, so it is raised only
    # after the transaction has committed.
    refusal = None
    with write(db):
        try:
            passkey = _check_assertion(db, at, credential, purpose, challenge, raw_id,
                                       rp_id=rp_id, origin=origin, staff_id=staff_id)
        except Refused as exc:
            refusal = exc
    if refusal is not None:
        raise refusal
    return passkey


def _check_assertion(db, at, credential, purpose, challenge, raw_id, *, rp_id, origin,
                     staff_id):
    stored = consume_challenge(db, at, challenge, purpose)
    if stored is None:
        raise Refused("challenge")
    if staff_id is not None and stored["staff_id"] != staff_id:
        raise Refused("challenge owner")
    passkey = staff_mod.passkey_by_credential_id(db, raw_id)
    if passkey is None:
        raise Refused("credential")
    if staff_id is not None and passkey["staff_id"] != staff_id:
        raise Refused("credential owner")
    handle = credential.get("response", {}).get("userHandle")
    if purpose == "login" and not handle:
        raise Refused("user handle missing")
    if handle:
        try:
            if not hmac.compare_digest(_wa().base64url_to_bytes(handle), passkey["user_handle"]):
                raise Refused("user handle")
        except (TypeError, ValueError):
            raise Refused("user handle") from None
    try:
        verified = _wa().verify_authentication_response(
            credential=credential, expected_challenge=stored["challenge"],
            expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=passkey["public_key"],
            credential_current_sign_count=passkey["sign_count"],
            require_user_verification=True)
    except Exception as exc:
        raise Refused(type(exc).__name__) from None
    if not staff_mod.record_use(db, at, passkey["id"], passkey["sign_count"],
                                verified.new_sign_count):
        raise Refused("sign count race")
    return passkey


def verify_registration(db, at: datetime, credential: dict, purpose: str, *, rp_id: str,
                        origin: str, invite_id=None, staff_id=None):
    try:
        challenge = _echoed_challenge(credential)
    except Exception:
        raise Refused("malformed") from None
    stored = consume_challenge(db, at, challenge, purpose)
    if stored is None or stored["invite_id"] != invite_id or stored["staff_id"] != staff_id:
        raise Refused("challenge")
    try:
        return _wa().verify_registration_response(
            credential=credential, expected_challenge=stored["challenge"],
            expected_rp_id=rp_id, expected_origin=origin,
            require_user_verification=True, supported_pub_key_algs=_wa().ALGORITHMS)
    except Exception as exc:
        raise Refused(type(exc).__name__) from None


def _with_prf(options_json: str, prf_salt: bytes | None) -> str:
    """Ask the passkey for its PRF output under the person's salt (py_webauthn has no field for
    the extension). The output stays in the browser; only a public key derived from it is sent
    back (ADR 0013)."""
    if prf_salt is None:
        return options_json
    options = json.loads(options_json)
    options.setdefault("extensions", {})["prf"] = {
        "eval": {"first": device_seal.b64(prf_salt)}}
    return json.dumps(options)


def registration_options(db, at, *, rp_id: str, user_handle: bytes, display_name: str, purpose: str,
                          invite_id=None, staff_id=None, exclude=(),
                          prf_salt: bytes | None = None) -> str:
    challenge = issue_challenge(db, at, purpose, invite_id=invite_id, staff_id=staff_id)
    options = _wa().generate_registration_options(
        rp_id=rp_id, rp_name="HwC Inbox", user_id=user_handle, user_name=display_name,
        user_display_name=display_name, challenge=challenge, timeout=120000,
        attestation=_wa().AttestationConveyancePreference.NONE,
        authenticator_selection=_wa().AuthenticatorSelectionCriteria(
            resident_key=_wa().ResidentKeyRequirement.REQUIRED, require_resident_key=True,
            user_verification=_wa().UserVerificationRequirement.REQUIRED),
        exclude_credentials=[_wa().PublicKeyCredentialDescriptor(id=p["credential_id"])
                             for p in exclude],
        supported_pub_key_algs=_wa().ALGORITHMS)
    return _with_prf(_wa().options_to_json(options), prf_salt)


def assertion_options(db, at, purpose: str, *, rp_id: str, staff_id=None, allow=(),
                      prf_salt: bytes | None = None) -> str:
    challenge = issue_challenge(db, at, purpose, staff_id=staff_id)
    options = _wa().generate_authentication_options(
        rp_id=rp_id, challenge=challenge, timeout=120000,
        allow_credentials=[_wa().PublicKeyCredentialDescriptor(id=p["credential_id"])
                           for p in allow],
        user_verification=_wa().UserVerificationRequirement.REQUIRED)
    return _with_prf(_wa().options_to_json(options), prf_salt)
