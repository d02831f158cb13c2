"""Request guards: who is logged in, which roles a route needs, and the fresh-passkey check.

Use from a blueprint::

    from .guards import current_staff, role_required, step_up_required

    @bp.get("/signal/<sid>")              # GET shows the confirmation with the button
    @role_required("receiver", "backup")
    def confirm(sid): ...

    @bp.post("/signal/<sid>/reveal")      # POST does the sensitive thing
    @role_required("receiver", "backup")
    @step_up_required
    def reveal(sid):
        me = current_staff()          # .id .school_id .display_name .group_name .roles
        ...
"""
from __future__ import annotations

import sqlite3
from datetime import timedelta
from functools import wraps

from flask import abort, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from .. import staff as staff_mod
from ..clock import parse
from ..db import snapshot
from .base import cfg, get_db, now

login_manager = LoginManager()
csrf = CSRFProtect()

STEP_UP_WINDOW = timedelta(minutes=2)
ASSERT_KEY = "hwc_assert_at"


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
        self.municipality_id = row.get("municipality_id")  # officers only (ADR 0010)

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
        with snapshot(get_db(), one_statement=True) as database:
            row = staff_mod.get(database, int(user_id))
    except (ValueError, sqlite3.Error):
        return None
    if row is None or not row["active"]:
        return None
    return StaffUser(row)


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return jsonify({"error": "login_required", "login_url": url_for("auth.login")}), 401
    target = request.full_path if request.method == "GET" else request.path
    expired = "1" if getattr(session, "expired", False) else None
    return redirect(url_for("auth.login", next=safe_next(target.rstrip("?")), verlopen=expired))


def current_staff() -> StaffUser | None:
    """The logged-in, active staff member, or None.

    The object itself, not flask-login's `current_user` proxy: every attribute read through the
    proxy looks the user up again (the inbox reads `school_id` once per row)."""
    user = current_user._get_current_object()
    return user if user is not None and user.is_authenticated else None


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


#: The phone public key (base64url) the last passkey assertion of this session proved, by the
#: PRF output its browser derived it from (ADR 0013). Set with ASSERT_KEY, cleared with it.
PHONE_KEY = "hwc_assert_phone"


def proved_phone(claimed: str | None) -> bytes | None:
    """The phone key of this session's fresh assertion, if the page names the same one (`claimed`,
    sent by the script that holds its private key): only then may a phone-sealed copy be handed
    out — a page that could not decrypt it must not spend a view-once."""
    from ..device_seal import BadEntry, unb64
    mine = session.get(PHONE_KEY)
    if not mine or not claimed or claimed != mine or not assertion_is_fresh():
        return None
    try:
        return unb64(mine)
    except BadEntry:
        return None


def step_up_url(target: str | None = None) -> str:
    if target is None:
        target = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return url_for("auth.step_up", next=safe_next(target))


def require_fresh_assertion():
    """Return None when fresh, else the response to send (step-up page redirect or 401 JSON).

    Usage inside a view: ``resp = require_fresh_assertion(); if resp: return resp``.
    """
    if current_staff() is None:
        return login_manager.unauthorized()
    if assertion_is_fresh():
        return None
    url = step_up_url()
    if wants_json():
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
    if "operator" in roles:
        return "/beheer/"
    if "officer" in roles:
        return "/gemeente/"
    if "director" in roles:
        return "/admin/"
    if {"receiver", "backup"} & set(roles):
        return "/inbox"
    if "teacher" in roles:
        return "/notes"
    return "/"


def safe_next(target: str | None) -> str | None:
    """Only a local path: no scheme, no host, no protocol-relative '//' or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or len(target) > 500 or any(ord(c) < 32 for c in target):
        return None
    return target


def wants_json() -> bool:
    """The caller is a script (fetch with JSON), so answer with JSON instead of a redirect."""
    return request.is_json or "application/json" in request.headers.get("Accept", "")


def check_origin():
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
