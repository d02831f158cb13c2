"""Login limits an attacker cannot turn against other people.

Before, every login request counted against its client address (30 a minute): 30 anonymous
`POST /auth/login/options` from one address gave every colleague behind that address (a school's
NAT, or everyone behind a proxy without `--trusted-proxy`) a 429. Now:

- Asking for a challenge is counted per *client* — the anonymous session's CSRF secret, which
  only that browser holds — so an abuser throttles only their own further challenges; the
  number of outstanding challenges is bounded globally (`passkeys.MAX_OUTSTANDING_CHALLENGES`).
- Only FAILED verifications are counted: per credential id, per address and per client.
  A valid assertion is always accepted, whoever failed before it. Past the failure budget a
  failed attempt answers 429 (with Retry-After) instead of 401, so scripts back off; a client
  past its own budget is refused before any work is done (that hurts only that client).
- Logged-in ceremonies (step-up, adding a passkey) count per session, not per address: a
  school's teachers reading their notes at 08:00 share one address.
- Plain page views (the login page, an invite link a scanner opens) are not limited.
Passkey assertions cannot be guessed, so these limits are about load and noise, not secrecy.
All counters live in the limiter's memory (reset at restart), never in the database.
"""
from __future__ import annotations

from flask import current_app, jsonify, request, session
from limits import parse

from ..tokens import digest
from .base import limiter

DEFAULTS = {
    "HWC_AUTH_RATE_LIMIT": "30/minute",                  # challenges per client or session
    "HWC_LOGIN_FAILURES_PER_CLIENT": "10/15 minutes",
    "HWC_LOGIN_FAILURES_PER_CREDENTIAL": "10/15 minutes",
    "HWC_LOGIN_FAILURES_PER_ADDRESS": "100/15 minutes",
}


def _conf(name: str) -> str:
    return current_app.config.get(name, DEFAULTS[name])


def auth_rate() -> str:
    return _conf("HWC_AUTH_RATE_LIMIT")


def client_key() -> str:
    """Whose bucket: the logged-in session, else the anonymous browser's CSRF secret (a request
    without one is refused by CSRF anyway and shares one harmless bucket)."""
    if getattr(session, "sid", None):
        return "sess:" + session.id_hash
    return "anon:" + digest(str(session.get("csrf_token", "")))


def _failure_keys(credential: object) -> list[tuple[str, str]]:
    keys = [("HWC_LOGIN_FAILURES_PER_CLIENT", client_key()),
            ("HWC_LOGIN_FAILURES_PER_ADDRESS", "ip:" + (request.remote_addr or "?"))]
    if isinstance(credential, dict) and isinstance(credential.get("rawId"), str):
        keys.append(("HWC_LOGIN_FAILURES_PER_CREDENTIAL",
                     "cred:" + digest(credential["rawId"][:400])))
    return keys


def client_exhausted() -> bool:
    """This client already failed too often: refuse before doing any work (only it is hurt)."""
    name, key = _failure_keys(None)[0]
    return not limiter.limiter.test(parse(_conf(name)), "login-fail", key)


def record_failure(credential: object) -> bool:
    """Count a failed verification; True when any budget (client, address, credential) is spent."""
    spent = False
    for name, key in _failure_keys(credential):
        if not limiter.limiter.hit(parse(_conf(name)), "login-fail", key):
            spent = True
    return spent


def too_many(message: str):
    resp = jsonify({"error": message})
    resp.status_code = 429
    resp.headers["Retry-After"] = "60"
    return resp
