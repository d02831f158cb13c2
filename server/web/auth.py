"""Login, invites, step-up and a person's own passkeys: the routes around `server.passkeys`.

Every failed ceremony gets the same calm message: it never says whether a person exists.
"""
from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user
from flask_wtf.csrf import generate_csrf

from .. import device_seal, devicekeys, passkeys, schools
from .. import staff as staff_mod
from ..clock import iso
from . import throttle
from .base import cfg, get_db, limiter, now
from .confirm import unconfirmed
from .guards import (
    ASSERT_KEY,
    PHONE_KEY,
    StaffUser,
    check_origin,
    csrf,
    current_staff,
    landing_for,
    login_manager,
    role_required,
    safe_next,
    step_up_required,
)
from .sessions import ServerSessionInterface

log = logging.getLogger("hwc.auth")

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _auth_rate() -> str:
    return throttle.auth_rate()


#: Challenges and logged-in ceremonies are counted per browser (session or anonymous CSRF
#: secret), never per address: see `throttle`.
_per_client = limiter.limit(_auth_rate, key_func=throttle.client_key)


def _start_session(person: dict) -> None:
    """A fresh session id at login (no fixation), marked as a fresh passkey assertion."""
    session.clear()
    session.regenerate = True
    login_user(StaffUser(person))
    session[ASSERT_KEY] = iso(now())


def _rp() -> dict:
    """The relying party every ceremony is checked against: HWC_BASE_URL, never the Host header."""
    return {"rp_id": cfg().rp_id, "origin": cfg().origin}


def _json(text: str):
    return current_app.response_class(text, mimetype="application/json")


def _assertion_response(db, at, purpose: str, staff_id=None, allow=()):
    return _json(passkeys.assertion_options(db, at, purpose, rp_id=cfg().rp_id,
                                            staff_id=staff_id, allow=allow))


def _registration_response(db, at, **kwargs):
    return _json(passkeys.registration_options(db, at, rp_id=cfg().rp_id, **kwargs))


def _credential_from_request() -> tuple[dict, dict]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise passkeys.Refused("no json")
    credential = body.get("credential", body)
    if not isinstance(credential, dict):
        raise passkeys.Refused("no credential")
    return body, credential


def _phone_key(db, at, body: dict, passkey: dict | None) -> bytes | None:
    """The phone key the browser derived from this ceremony's PRF output (ADR 0013), registered
    for the passkey just verified; None if the passkey gave no PRF output. The output itself is
    never sent: only `device_key`, the public half, or `prf: false`."""
    if passkey is None:
        return None
    raw = body.get("device_key")
    if raw is None:
        if body.get("prf") is False:
            devicekeys.mark_prf(db, passkey["id"], False)
            passkey["prf"] = 0  # so this answer does not ask for the key once more
        return None
    try:
        key = device_seal.public_key(device_seal.unb64(raw))
        devicekeys.register(db, at, passkey, key)
    except (device_seal.BadEntry, devicekeys.KeyRefused) as exc:
        log.warning("passkey ceremony: phone key refused: %s", exc)
        return None
    return key


def _ask_phone_key_once(answer: dict, db, passkey: dict | None) -> dict:
    """A login cannot ask the PRF question (who logs in is known only after it), and some
    phones answer it at an assertion but not when the passkey is made: then the page asks once
    more, for this passkey (static/js/passkey.js), with the token of the session it now has."""
    if passkey is not None and devicekeys.needs_phone_key(db, passkey):
        answer.update(phone_key_needed=True, csrf=generate_csrf())
    return answer


def _refuse(exc: passkeys.Refused, status: int = 400):
    # The reason goes to the log as a short code (no names, no ids); the client gets one message.
    log.info("passkey ceremony refused: %s", exc)
    return jsonify({"error": passkeys.GENERIC_FAIL}), status


def _refused_attempt(exc: passkeys.Refused, credential, status: int):
    """A failed verification counts against the client, the address and the credential; past a
    budget the answer becomes 429 so a script backs off (a valid passkey still gets in)."""
    if throttle.record_failure(credential):
        log.info("passkey ceremony refused: %s (failure budget spent)", exc)
        return throttle.too_many(passkeys.GENERIC_FAIL)
    return _refuse(exc, status)


# --- routes: login / logout -------------------------------------------------------------------

@bp.get("/login")
def login():
    """The login page. Passkey autofill (conditional mediation) is offered, except right after
    logging out: on a shared classroom PC the next person should not be offered the last one's
    passkey first."""
    nxt = safe_next(request.args.get("next"))
    if current_staff() is not None:
        return redirect(nxt or landing_for(current_staff().roles))
    return render_template("auth/login.html", next=nxt or "",
                           expired=getattr(session, "expired", False)
                           or request.args.get("verlopen") == "1",
                           logged_out=request.args.get("uitgelogd") == "1")


@bp.post("/login/options")
@_per_client
def login_options():
    return _assertion_response(get_db(), now(), "login")


@bp.post("/login/verify")
def login_verify():
    """Not limited per request: only failures count (`throttle`), and a valid passkey always
    logs in, whoever failed before from the same address."""
    db, at = get_db(), now()
    if throttle.client_exhausted():
        return throttle.too_many(passkeys.GENERIC_FAIL)
    credential = None
    try:
        body, credential = _credential_from_request()
        passkey = passkeys.verify_assertion(db, at, credential, "login", **_rp())
    except passkeys.Refused as exc:
        return _refused_attempt(exc, credential, 401)
    person = staff_mod.get(db, passkey["staff_id"])
    _start_session(person)
    nxt = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    return jsonify(_ask_phone_key_once(
        {"ok": True, "redirect": nxt or landing_for(person["roles"])}, db, passkey))


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
def invite(token):
    invite, status = _live_invite(token)
    if status != "valid":
        return render_template("auth/invite_gone.html", status=status), (404 if status == "unknown" else 410)
    school = schools.get(get_db(), invite["school_id"]) if invite["school_id"] else None
    roles = [staff_mod.ROLE_LABELS[r] for r in invite["roles"].split(",") if r]
    return render_template("auth/invite.html", invite=invite, school=school, roles=roles,
                           token=token)


@bp.post("/invite/<token>/options")
@_per_client
def invite_options(token):
    invite, status = _live_invite(token)
    if status != "valid":
        return jsonify({"error": "Deze uitnodiging is niet meer geldig."}), 410
    db = get_db()
    exclude = staff_mod.passkeys_of(db, invite["staff_id"]) if invite["staff_id"] else ()
    return _registration_response(db, now(), user_handle=invite["user_handle"],
                                 display_name=invite["display_name"], purpose="register",
                                 invite_id=invite["id"], exclude=exclude,
                                 prf_salt=devicekeys.prf_salt(invite["user_handle"]))


@bp.post("/invite/<token>/verify")
def invite_verify(token):
    if throttle.client_exhausted():
        return throttle.too_many(passkeys.GENERIC_FAIL)
    invite, status = _live_invite(token)
    if status != "valid":
        return jsonify({"error": "Deze uitnodiging is niet meer geldig."}), 410
    db, at = get_db(), now()
    credential = None
    try:
        body, credential = _credential_from_request()
        verified = passkeys.verify_registration(db, at, credential, "register",
                                                invite_id=invite["id"], **_rp())
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        person = staff_mod.redeem_invite(
            db, at, invite_id=invite["id"], credential_id=verified.credential_id,
            public_key=verified.credential_public_key, sign_count=verified.sign_count,
            passkey_name=name)
    except passkeys.Refused as exc:
        return _refused_attempt(exc, credential, 400)
    except staff_mod.StaffError as exc:
        return jsonify({"error": str(exc)}), 409
    passkey = staff_mod.passkey_by_credential_id(db, verified.credential_id)
    _phone_key(db, at, body, passkey)
    _start_session(person)
    return jsonify(_ask_phone_key_once({"ok": True, "redirect": landing_for(person["roles"])},
                                       db, passkey))


# --- routes: step-up --------------------------------------------------------------------------

@bp.get("/step-up")
@role_required(*staff_mod.PEOPLE_ROLES)
def step_up():
    return render_template("auth/step_up.html",
                           next=safe_next(request.args.get("next")) or landing_for(current_staff().roles))


@bp.post("/step-up/options")
@role_required(*staff_mod.PEOPLE_ROLES)
@_per_client
def step_up_options():
    db = get_db()
    me = current_staff()
    return _json(passkeys.assertion_options(
        db, now(), "step_up", rp_id=cfg().rp_id, staff_id=me.id,
        allow=staff_mod.passkeys_of(db, me.id),
        prf_salt=devicekeys.prf_salt(staff_mod.get(db, me.id)["user_handle"])))


@bp.post("/step-up/verify")
@role_required(*staff_mod.PEOPLE_ROLES)
@_per_client
def step_up_verify():
    db, at, me = get_db(), now(), current_staff()
    try:
        body, credential = _credential_from_request()
        passkey = passkeys.verify_assertion(db, at, credential, "step_up", staff_id=me.id,
                                            **_rp())
    except passkeys.Refused as exc:
        return _refuse(exc, 401)
    phone = _phone_key(db, at, body, passkey)
    session[ASSERT_KEY] = iso(at)
    if phone:  # which phone proved itself: only its sealed copies may be handed out
        session[PHONE_KEY] = device_seal.b64(phone)
    else:
        session.pop(PHONE_KEY, None)
    nxt = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    return jsonify({"ok": True, "redirect": nxt or landing_for(me.roles)})


# --- routes: own passkeys ---------------------------------------------------------------------

@bp.get("/passkeys", endpoint="passkeys")
@role_required(*staff_mod.PEOPLE_ROLES)
def passkey_list():
    me = current_staff()
    return render_template("auth/passkeys.html", me=me, passkeys=staff_mod.passkeys_of(get_db(), me.id))


@bp.post("/passkeys/<int:passkey_id>/rename")
@role_required(*staff_mod.PEOPLE_ROLES)
def passkey_rename(passkey_id):
    try:
        staff_mod.rename_passkey(get_db(), now(), staff_id=current_staff().id,
                                 passkey_id=passkey_id, name=request.form.get("name", ""))
    except LookupError:
        abort(404)
    flash("De naam is opgeslagen.")
    return redirect(url_for("auth.passkeys"), code=303)


@bp.post("/passkeys/<int:passkey_id>/remove")
@role_required(*staff_mod.PEOPLE_ROLES)
def passkey_remove(passkey_id):
    me = current_staff()
    ask = unconfirmed("Deze passkey verwijderen?",
                      "Met deze passkey kun je daarna niet meer inloggen, en op je andere "
                      "apparaten word je uitgelogd.", "Ja, verwijderen", url_for("auth.passkeys"))
    if ask:
        return ask
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
@role_required(*staff_mod.PEOPLE_ROLES)
@step_up_required
@_per_client
def passkey_add_options():
    db, me = get_db(), current_staff()
    person = staff_mod.get(db, me.id)
    return _registration_response(db, now(), user_handle=person["user_handle"],
                                 display_name=person["display_name"], purpose="add_passkey",
                                 staff_id=me.id, exclude=staff_mod.passkeys_of(db, me.id),
                                 prf_salt=devicekeys.prf_salt(person["user_handle"]))


@bp.post("/passkeys/verify")
@role_required(*staff_mod.PEOPLE_ROLES)
@step_up_required
@_per_client
def passkey_add_verify():
    db, at, me = get_db(), now(), current_staff()
    try:
        body, credential = _credential_from_request()
        verified = passkeys.verify_registration(db, at, credential, "add_passkey",
                                                staff_id=me.id, **_rp())
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        staff_mod.add_passkey(db, at, staff_id=me.id, credential_id=verified.credential_id,
                              public_key=verified.credential_public_key,
                              sign_count=verified.sign_count, name=name)
    except passkeys.Refused as exc:
        return _refuse(exc)
    except staff_mod.StaffError as exc:
        return jsonify({"error": str(exc)}), 409
    passkey = staff_mod.passkey_by_credential_id(db, verified.credential_id)
    _phone_key(db, at, body, passkey)
    flash("Je nieuwe passkey is toegevoegd.")
    return jsonify(_ask_phone_key_once({"ok": True, "redirect": url_for("auth.passkeys")},
                                       db, passkey))


# --- wiring ---------------------------------------------------------------------------------

def init_app(app) -> None:
    """Server-side sessions, Flask-Login, app-wide CSRF (API exempt) and the auth blueprint."""
    app.session_interface = ServerSessionInterface()
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)   # the token lives as long as its session
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)  # Referer is never sent (no-referrer)
    app.config.setdefault("HWC_AUTH_RATE_LIMIT", "30/minute")
    login_manager.session_protection = None  # the session id itself is the secret
    login_manager.init_app(app)
    csrf.init_app(app)
    app.before_request(check_origin)
    app.register_blueprint(bp)
