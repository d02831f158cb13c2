"""People's login: passkeys (py_webauthn), invites, server-side sessions, roles and step-up.

Why it is built this way (see docs/decisions/0100-auth-server-side-sessions.md):
- Sessions live in `web_sessions`; the cookie carries only an opaque random id (its SHA-256 is
  the key). Logout, deactivation and passkey revocation delete rows, so they take effect on the
  very next request — a signed-cookie session could be replayed until it expired.
- WebAuthn challenges live in `webauthn_challenges`, are found by the challenge the browser
  echoes in clientDataJSON, deleted on first use and refused after 5 minutes.
- rp_id and origin come from HWC_BASE_URL (`cfg().rp_id`, `cfg().origin`), never the Host header.
- Every failed ceremony gets the same calm message: it never says whether a person exists.

Use from other blueprints::

    from server.auth import role_required, step_up_required, current_staff

    @bp.route("/signal/<sid>/open", methods=["GET", "POST"])
    @role_required("receiver", "backup")
    @step_up_required
    def open_signal(sid):
        me = current_staff()          # .id .school_id .display_name .group_name .roles
        ...
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
from datetime import datetime, timedelta
from functools import wraps

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template,
                   request, session, url_for)
from flask.sessions import SessionInterface, SessionMixin
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from webauthn import (generate_authentication_options, generate_registration_options,
                      options_to_json, verify_authentication_response,
                      verify_registration_response)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (AttestationConveyancePreference,
                                      AuthenticatorSelectionCriteria,
                                      PublicKeyCredentialDescriptor, ResidentKeyRequirement,
                                      UserVerificationRequirement)
from werkzeug.datastructures import CallbackDict

from . import schools
from . import staff as staff_mod
from .clock import iso, parse
from .db import write
from .web import cfg, clock, get_db, limiter, now

log = logging.getLogger("hwc.auth")

bp = Blueprint("auth", __name__, url_prefix="/auth")
login_manager = LoginManager()
csrf = CSRFProtect()

IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
CHALLENGE_TTL = timedelta(minutes=5)
STEP_UP_WINDOW = timedelta(minutes=2)
ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]
GENERIC_FAIL = "Inloggen lukte niet. Probeer het opnieuw."
ASSERT_KEY = "hwc_assert_at"


def _auth_rate() -> str:
    return current_app.config.get("HWC_AUTH_RATE_LIMIT", "30/minute")


def _sha(value: str | bytes) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    return hashlib.sha256(value).hexdigest()


# --- server-side sessions ---------------------------------------------------------------------

class ServerSession(CallbackDict, SessionMixin):
    """A session whose data lives in `web_sessions`; the cookie is only the random id."""

    def __init__(self, initial=None, sid: str | None = None, expired: bool = False):
        def on_update(self):
            self.modified = True
            self.accessed = True
        super().__init__(initial, on_update)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.accessed = False
        self.regenerate = False
        #: True when the request carried a session id that had timed out (for a calm message).
        self.expired = expired

    @property
    def id_hash(self) -> str | None:
        return _sha(self.sid) if self.sid else None


#: How precisely idle time is tracked (the idle timeout may end up to this much earlier).
SEEN_GRANULARITY = timedelta(seconds=30)


def session_alive(row: dict, at: datetime) -> bool:
    return (at - parse(row["last_seen_at"]) <= IDLE_TIMEOUT
            and at - parse(row["created_at"]) < ABSOLUTE_TIMEOUT)


class ServerSessionInterface(SessionInterface):
    """Flask session interface over `web_sessions`, timed by the injected clock."""

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 100:
            return ServerSession()
        try:
            db = get_db()
            rows = list(db.query("SELECT * FROM web_sessions WHERE id_hash = ?", (_sha(sid),)))
            if rows and session_alive(rows[0], clock().now()):
                opened = ServerSession(json.loads(rows[0]["data"]), sid=sid)
                opened.last_seen = parse(rows[0]["last_seen_at"])
                return opened
            if rows:
                with write(db):
                    db.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (_sha(sid),))
                return ServerSession(expired=True)
        except (sqlite3.Error, ValueError):
            log.warning("session store unavailable; treating request as anonymous")
        return ServerSession()

    def save_session(self, app, sess, response):
        name = self.get_cookie_name(app)
        try:
            self._save(app, sess, response, name)
        except sqlite3.Error:
            log.warning("session store unavailable; session not saved")

    def _save(self, app, sess: ServerSession, response, name):
        db = get_db()
        at = iso(clock().now())
        if not sess:
            if sess.sid:
                with write(db):
                    db.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (sess.id_hash,))
            if sess.sid or sess.expired:
                response.delete_cookie(name, path=self.get_cookie_path(app),
                                       secure=self.get_cookie_secure(app), httponly=True,
                                       samesite=self.get_cookie_samesite(app))
            return
        data = json.dumps(dict(sess), separators=(",", ":"), default=str)
        staff_id = _int_or_none(sess.get("_user_id"))
        response.vary.add("Cookie")
        if sess.sid is None or sess.regenerate:
            with write(db):
                if sess.sid:
                    db.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (sess.id_hash,))
                # Housekeeping: forget sessions that can no longer be used.
                db.conn.execute("DELETE FROM web_sessions WHERE last_seen_at < ? OR created_at < ?",
                                (iso(clock().now() - IDLE_TIMEOUT),
                                 iso(clock().now() - ABSOLUTE_TIMEOUT)))
                sess.sid = secrets.token_urlsafe(32)
                db["web_sessions"].insert({"id_hash": sess.id_hash, "staff_id": staff_id,
                                           "data": data, "created_at": at, "last_seen_at": at})
            response.set_cookie(name, sess.sid, path=self.get_cookie_path(app),
                                secure=self.get_cookie_secure(app), httponly=True,
                                samesite=self.get_cookie_samesite(app))
            return
        if request.endpoint == "static" and not sess.modified:
            return  # a stylesheet is not activity
        last_seen = getattr(sess, "last_seen", None)
        if not sess.modified and last_seen is not None \
                and timedelta(0) <= clock().now() - last_seen < SEEN_GRANULARITY:
            # Activity is recorded at most every SEEN_GRANULARITY: a page view is then a read,
            # not a write transaction (with its fsyncs) competing with incoming signals.
            return
        with write(db):
            # UPDATE only: if the row was deleted meanwhile (logout everywhere), it stays gone.
            if sess.modified:
                db.conn.execute("UPDATE web_sessions SET data = ?, staff_id = ?, last_seen_at = ? "
                                "WHERE id_hash = ?", (data, staff_id, at, sess.id_hash))
            else:
                db.conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?",
                                (at, sess.id_hash))


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- the logged-in person ---------------------------------------------------------------------

class StaffUser:
    """What `current_staff()` returns: attributes, and item access for dict-style callers."""

    is_anonymous = False

    def __init__(self, row: dict):
        self.id = row["id"]
        self.school_id = row["school_id"]
        self.display_name = row["display_name"]
        self.group_name = row["group_name"]
        self.roles = set(row["roles"])
        self.active = bool(row["active"])

    @property
    def is_authenticated(self):
        return True

    @property
    def is_active(self):
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    def __getitem__(self, key):
        return getattr(self, key)

    def has_role(self, *roles) -> bool:
        return bool(self.roles & set(roles))


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        row = staff_mod.get(get_db(), int(user_id))
    except (ValueError, sqlite3.Error):
        return None
    if row is None or not row["active"]:
        return None
    return StaffUser(row)


@login_manager.unauthorized_handler
def _unauthorized():
    if _wants_json():
        return jsonify({"error": "login_required", "login_url": url_for("auth.login")}), 401
    target = request.full_path if request.method == "GET" else request.path
    expired = "1" if getattr(session, "expired", False) else None
    return redirect(url_for("auth.login", next=_safe_next(target.rstrip("?")), verlopen=expired))


def current_staff() -> StaffUser | None:
    """The logged-in, active staff member, or None."""
    return current_user if current_user and current_user.is_authenticated else None


def role_required(*roles):
    """Anonymous → login page (HTML) or 401 (JSON); logged in without any of `roles` → 403."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            me = current_staff()
            if me is None:
                return login_manager.unauthorized()
            if not me.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def assertion_is_fresh() -> bool:
    """True when this session made a passkey assertion within the last 2 minutes."""
    stamp = session.get(ASSERT_KEY)
    if not stamp or current_staff() is None:
        return False
    try:
        made = parse(stamp)
    except ValueError:
        return False
    return timedelta(0) <= now() - made <= STEP_UP_WINDOW


def step_up_url(target: str | None = None) -> str:
    if target is None:
        target = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return url_for("auth.step_up", next=_safe_next(target))


def require_fresh_assertion():
    """Return None when fresh, else the response to send (step-up page redirect or 401 JSON).

    Usage inside a view: ``resp = require_fresh_assertion(); if resp: return resp``.
    """
    if current_staff() is None:
        return login_manager.unauthorized()
    if assertion_is_fresh():
        return None
    url = step_up_url()
    if _wants_json():
        return jsonify({"error": "step_up_required", "step_up_url": url}), 401
    return redirect(url, code=303)


def step_up_required(view):
    """Decorator for sensitive routes: needs a passkey assertion of the last 2 minutes.

    Without one, an HTML request is redirected (303) to /auth/step-up?next=<this URL>; after the
    assertion the browser is sent back to that URL with a GET. So give the sensitive POST route a
    GET on the same URL that shows the confirmation page with the button — the user then presses
    it again. JSON requests get 401 ``{"error": "step_up_required", "step_up_url": ...}``.
    Put it *below* ``@role_required(...)``.
    """
    @wraps(view)
    def wrapped(*args, **kwargs):
        resp = require_fresh_assertion()
        if resp is not None:
            return resp
        return view(*args, **kwargs)
    return wrapped


def landing_for(roles) -> str:
    if "director" in roles:
        return "/admin/"
    if {"receiver", "backup"} & set(roles):
        return "/inbox"
    if "teacher" in roles:
        return "/notes"
    return "/"


def _safe_next(target: str | None) -> str | None:
    """Only a local path: no scheme, no host, no protocol-relative '//' or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or len(target) > 500 or any(ord(c) < 32 for c in target):
        return None
    return target


def _wants_json() -> bool:
    return request.is_json or "application/json" in request.headers.get("Accept", "")


def _start_session(person: dict) -> None:
    """A fresh session id at login (no fixation), marked as a fresh passkey assertion."""
    session.clear()
    session.regenerate = True
    login_user(StaffUser(person))
    session[ASSERT_KEY] = iso(now())


# --- challenges -------------------------------------------------------------------------------

def issue_challenge(db, at: datetime, purpose: str, *, invite_id=None, staff_id=None) -> bytes:
    challenge = os.urandom(32)
    with write(db):
        db.conn.execute("DELETE FROM webauthn_challenges WHERE expires_at <= ?", (iso(at),))
        db["webauthn_challenges"].insert({
            "challenge_hash": _sha(challenge), "purpose": purpose, "challenge": challenge,
            "invite_id": invite_id, "staff_id": staff_id, "created_at": iso(at),
            "expires_at": iso(at + CHALLENGE_TTL)})
    return challenge


def consume_challenge(db, at: datetime, challenge: bytes, purpose: str) -> dict | None:
    """Delete the challenge (single use) and return it if it was live and for this purpose."""
    with write(db):
        rows = db.conn.execute(
            "DELETE FROM webauthn_challenges WHERE challenge_hash = ? "
            "RETURNING purpose, challenge, invite_id, staff_id, expires_at",
            (_sha(challenge),)).fetchall()
    if not rows:
        return None
    purpose_, stored, invite_id, staff_id, expires_at = rows[0]
    if purpose_ != purpose or parse(expires_at) <= at or not hmac.compare_digest(stored, challenge):
        return None
    return {"challenge": stored, "invite_id": invite_id, "staff_id": staff_id}


def _echoed_challenge(credential: dict) -> bytes:
    client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    return base64url_to_bytes(client_data["challenge"])


class Refused(Exception):
    """A ceremony failed; the client only ever hears GENERIC_FAIL."""


def _credential_from_request() -> tuple[dict, dict]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused("no json")
    credential = body.get("credential", body)
    if not isinstance(credential, dict):
        raise Refused("no credential")
    return body, credential


def verify_assertion(db, at: datetime, credential: dict, purpose: str,
                     staff_id: int | None = None) -> dict:
    """Check an assertion fully; return the passkey row (with owner). Raises Refused."""
    try:
        challenge = _echoed_challenge(credential)
        raw_id = base64url_to_bytes(credential["rawId"])
    except Exception:
        raise Refused("malformed") from None
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
            if not hmac.compare_digest(base64url_to_bytes(handle), passkey["user_handle"]):
                raise Refused("user handle")
        except (TypeError, ValueError):
            raise Refused("user handle") from None
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=stored["challenge"],
            expected_rp_id=cfg().rp_id, expected_origin=cfg().origin,
            credential_public_key=passkey["public_key"],
            credential_current_sign_count=passkey["sign_count"],
            require_user_verification=True)
    except Exception as exc:
        raise Refused(type(exc).__name__) from None
    if not staff_mod.record_use(db, at, passkey["id"], passkey["sign_count"], verified.new_sign_count):
        raise Refused("sign count race")
    return passkey


def verify_registration(db, at: datetime, credential: dict, purpose: str, *,
                        invite_id=None, staff_id=None):
    try:
        challenge = _echoed_challenge(credential)
    except Exception:
        raise Refused("malformed") from None
    stored = consume_challenge(db, at, challenge, purpose)
    if stored is None or stored["invite_id"] != invite_id or stored["staff_id"] != staff_id:
        raise Refused("challenge")
    try:
        return verify_registration_response(
            credential=credential, expected_challenge=stored["challenge"],
            expected_rp_id=cfg().rp_id, expected_origin=cfg().origin,
            require_user_verification=True, supported_pub_key_algs=ALGORITHMS)
    except Exception as exc:
        raise Refused(type(exc).__name__) from None


def _registration_options(db, at, *, user_handle: bytes, display_name: str, purpose: str,
                          invite_id=None, staff_id=None, exclude=()):
    challenge = issue_challenge(db, at, purpose, invite_id=invite_id, staff_id=staff_id)
    options = generate_registration_options(
        rp_id=cfg().rp_id, rp_name="HwC Inbox", user_id=user_handle, user_name=display_name,
        user_display_name=display_name, challenge=challenge, timeout=120000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=p["credential_id"]) for p in exclude],
        supported_pub_key_algs=ALGORITHMS)
    return current_app.response_class(options_to_json(options), mimetype="application/json")


def _assertion_options(db, at, purpose: str, staff_id=None, allow=()):
    challenge = issue_challenge(db, at, purpose, staff_id=staff_id)
    options = generate_authentication_options(
        rp_id=cfg().rp_id, challenge=challenge, timeout=120000,
        allow_credentials=[PublicKeyCredentialDescriptor(id=p["credential_id"]) for p in allow],
        user_verification=UserVerificationRequirement.REQUIRED)
    return current_app.response_class(options_to_json(options), mimetype="application/json")


def _refuse(exc: Refused, status: int = 400):
    # The reason goes to the log as a short code (no names, no ids); the client gets one message.
    log.info("passkey ceremony refused: %s", exc)
    return jsonify({"error": GENERIC_FAIL}), status


# --- routes: login / logout -------------------------------------------------------------------

@bp.get("/login")
def login():
    """The login page. Passkey autofill (conditional mediation) is offered, except right after
    logging out: on a shared classroom PC the next person should not be offered the last one's
    passkey first."""
    nxt = _safe_next(request.args.get("next"))
    if current_staff() is not None:
        return redirect(nxt or landing_for(current_staff().roles))
    return render_template("auth/login.html", next=nxt or "",
                           expired=getattr(session, "expired", False)
                           or request.args.get("verlopen") == "1",
                           logged_out=request.args.get("uitgelogd") == "1")


@bp.post("/login/options")
@limiter.limit(_auth_rate)
def login_options():
    return _assertion_options(get_db(), now(), "login")


@bp.post("/login/verify")
@limiter.limit(_auth_rate)
def login_verify():
    db, at = get_db(), now()
    try:
        body, credential = _credential_from_request()
        passkey = verify_assertion(db, at, credential, "login")
    except Refused as exc:
        return _refuse(exc, 401)
    person = staff_mod.get(db, passkey["staff_id"])
    _start_session(person)
    nxt = _safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    return jsonify({"ok": True, "redirect": nxt or landing_for(person["roles"])})


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login", uitgelogd="1"), code=303)


# --- routes: invites --------------------------------------------------------------------------

def _live_invite(token: str):
    db = get_db()
    invite = staff_mod.find_invite(db, token)
    return invite, staff_mod.invite_status(invite, now())


@bp.get("/invite/<token>")
@limiter.limit(_auth_rate)
def invite(token):
    invite, status = _live_invite(token)
    if status != "valid":
        return render_template("auth/invite_gone.html", status=status), (404 if status == "unknown" else 410)
    school = schools.get(get_db(), invite["school_id"])
    roles = [staff_mod.ROLE_LABELS[r] for r in invite["roles"].split(",") if r]
    return render_template("auth/invite.html", invite=invite, school=school, roles=roles,
                           token=token)


@bp.post("/invite/<token>/options")
@limiter.limit(_auth_rate)
def invite_options(token):
    invite, status = _live_invite(token)
    if status != "valid":
        return jsonify({"error": "Deze uitnodiging is niet meer geldig."}), 410
    db = get_db()
    exclude = staff_mod.passkeys_of(db, invite["staff_id"]) if invite["staff_id"] else ()
    return _registration_options(db, now(), user_handle=invite["user_handle"],
                                 display_name=invite["display_name"], purpose="register",
                                 invite_id=invite["id"], exclude=exclude)


@bp.post("/invite/<token>/verify")
@limiter.limit(_auth_rate)
def invite_verify(token):
    invite, status = _live_invite(token)
    if status != "valid":
        return jsonify({"error": "Deze uitnodiging is niet meer geldig."}), 410
    db, at = get_db(), now()
    try:
        body, credential = _credential_from_request()
        verified = verify_registration(db, at, credential, "register", invite_id=invite["id"])
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        person = staff_mod.redeem_invite(
            db, at, invite_id=invite["id"], credential_id=verified.credential_id,
            public_key=verified.credential_public_key, sign_count=verified.sign_count,
            passkey_name=name)
    except Refused as exc:
        return _refuse(exc)
    except staff_mod.StaffError as exc:
        return jsonify({"error": str(exc)}), 409
    _start_session(person)
    return jsonify({"ok": True, "redirect": landing_for(person["roles"])})


# --- routes: step-up --------------------------------------------------------------------------

@bp.get("/step-up")
@role_required(*staff_mod.ROLES)
def step_up():
    return render_template("auth/step_up.html",
                           next=_safe_next(request.args.get("next")) or landing_for(current_staff().roles))


@bp.post("/step-up/options")
@role_required(*staff_mod.ROLES)
@limiter.limit(_auth_rate)
def step_up_options():
    db = get_db()
    me = current_staff()
    return _assertion_options(db, now(), "step_up", staff_id=me.id, allow=staff_mod.passkeys_of(db, me.id))


@bp.post("/step-up/verify")
@role_required(*staff_mod.ROLES)
@limiter.limit(_auth_rate)
def step_up_verify():
    db, at, me = get_db(), now(), current_staff()
    try:
        body, credential = _credential_from_request()
        verify_assertion(db, at, credential, "step_up", staff_id=me.id)
    except Refused as exc:
        return _refuse(exc, 401)
    session[ASSERT_KEY] = iso(at)
    nxt = _safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    return jsonify({"ok": True, "redirect": nxt or landing_for(me.roles)})


# --- routes: own passkeys ---------------------------------------------------------------------

@bp.get("/passkeys")
@role_required(*staff_mod.ROLES)
def passkeys():
    me = current_staff()
    return render_template("auth/passkeys.html", me=me, passkeys=staff_mod.passkeys_of(get_db(), me.id))


@bp.post("/passkeys/<int:passkey_id>/rename")
@role_required(*staff_mod.ROLES)
def passkey_rename(passkey_id):
    try:
        staff_mod.rename_passkey(get_db(), now(), staff_id=current_staff().id,
                                 passkey_id=passkey_id, name=request.form.get("name", ""))
    except LookupError:
        abort(404)
    flash("De naam is opgeslagen.")
    return redirect(url_for("auth.passkeys"), code=303)


@bp.post("/passkeys/<int:passkey_id>/remove")
@role_required(*staff_mod.ROLES)
def passkey_remove(passkey_id):
    me = current_staff()
    try:
        staff_mod.revoke_passkey(get_db(), now(), staff_id=me.id, passkey_id=passkey_id,
                                 actor=f"staff:{me.id}", school_id=me.school_id,
                                 keep_session_hash=session.id_hash, allow_last=False)
    except LookupError:
        abort(404)
    except staff_mod.StaffError as exc:
        flash(str(exc), "error")
        return redirect(url_for("auth.passkeys"), code=303)
    flash("De passkey is verwijderd. Op andere apparaten ben je uitgelogd.")
    return redirect(url_for("auth.passkeys"), code=303)


@bp.post("/passkeys/options")
@role_required(*staff_mod.ROLES)
@step_up_required
@limiter.limit(_auth_rate)
def passkey_add_options():
    db, me = get_db(), current_staff()
    person = staff_mod.get(db, me.id)
    return _registration_options(db, now(), user_handle=person["user_handle"],
                                 display_name=person["display_name"], purpose="add_passkey",
                                 staff_id=me.id, exclude=staff_mod.passkeys_of(db, me.id))


@bp.post("/passkeys/verify")
@role_required(*staff_mod.ROLES)
@step_up_required
@limiter.limit(_auth_rate)
def passkey_add_verify():
    db, at, me = get_db(), now(), current_staff()
    try:
        body, credential = _credential_from_request()
        verified = verify_registration(db, at, credential, "add_passkey", staff_id=me.id)
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        staff_mod.add_passkey(db, at, staff_id=me.id, credential_id=verified.credential_id,
                              public_key=verified.credential_public_key,
                              sign_count=verified.sign_count, name=name)
    except Refused as exc:
        return _refuse(exc)
    except staff_mod.StaffError as exc:
        return jsonify({"error": str(exc)}), 409
    flash("Je nieuwe passkey is toegevoegd.")
    return jsonify({"ok": True, "redirect": url_for("auth.passkeys")})


# --- wiring -----------------------------------------------------------------------------------

def _check_origin():
    """Refuse state-changing requests that a browser marks as coming from another site.

    Defence in depth next to SameSite=Strict and the CSRF token. Pages send
    `Referrer-Policy: no-referrer`, so same-origin POSTs carry `Origin: null`; a foreign origin
    or `Sec-Fetch-Site: cross-site/same-site` is refused. The machine API is not a browser.
    """
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/api/"):
        return None
    origin = request.headers.get("Origin")
    if origin not in (None, "null", cfg().origin):
        abort(403)
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        abort(403)
    return None


def init_app(app) -> None:
    """Server-side sessions, Flask-Login, app-wide CSRF (API exempt) and the auth blueprint."""
    from . import api

    app.session_interface = ServerSessionInterface()
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)   # the token lives as long as its session
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)  # Referer is never sent (no-referrer)
    app.config.setdefault("HWC_AUTH_RATE_LIMIT", "30/minute")
    login_manager.session_protection = None  # the session id itself is the secret
    login_manager.init_app(app)
    csrf.init_app(app)
    csrf.exempt(api.bp)
    app.before_request(_check_origin)
    app.register_blueprint(bp)
