"""Server-side sessions: the cookie carries only an opaque random id; the data lives in
`web_sessions`, keyed by the id's SHA-256.

Why (docs/decisions/0007-auth-server-side-sessions.md): logout, deactivation and passkey
revocation delete rows, so they take effect on the very next request — a signed-cookie session
could be replayed until it expired. Timed by the injected clock.

A visitor who is not logged in costs no row (and no write): before login the session holds only
the CSRF secret (and perhaps a flash message), kept in a separate signed, HttpOnly,
SameSite=Strict cookie (`ANON_COOKIE`). Replaying it gains nothing — it names nobody and holds
no challenge (challenges stay server-side, single use). At login the data moves into a server
row and that cookie is deleted. 4,599 anonymous requests used to write 4,599 rows.
"""
from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from datetime import datetime, timedelta

from flask import request
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import CallbackDict

from ..clock import iso, parse
from ..db import snapshot, write
from ..tokens import digest
from .base import clock, get_db

log = logging.getLogger("hwc.auth")

IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: The signed cookie of a visitor who is not logged in (CSRF secret only; see the docstring).
ANON_COOKIE = "hwc_anon"
#: Keys an anonymous session may carry in its cookie; anything else needs a server row.
ANON_KEYS = frozenset({"csrf_token", "_flashes"})


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
        return digest(self.sid) if self.sid else None


#: How precisely idle time is tracked (the idle timeout may end up to this much earlier).
SEEN_GRANULARITY = timedelta(seconds=30)


def session_alive(row: dict, at: datetime) -> bool:
    return (at - parse(row["last_seen_at"]) <= IDLE_TIMEOUT
            and at - parse(row["created_at"]) < ABSOLUTE_TIMEOUT)


class ServerSessionInterface(SessionInterface):
    """Flask session interface over `web_sessions`, timed by the injected clock."""

    def _anon_serializer(self, app):
        return URLSafeTimedSerializer(app.secret_key, salt="hwc-anonymous-session")

    def _anon_data(self, app, request) -> dict:
        raw = request.cookies.get(ANON_COOKIE)
        if not raw or len(raw) > 4000:
            return {}
        try:
            data = self._anon_serializer(app).loads(
                raw, max_age=int(ABSOLUTE_TIMEOUT.total_seconds()))
        except (BadSignature, ValueError, TypeError):
            return {}
        return {k: v for k, v in data.items() if k in ANON_KEYS} if isinstance(data, dict) else {}

    def open_session(self, app, request):
        sess = self._open(app, request)
        if sess.sid is None:  # not logged in: the signed anonymous cookie, without a row
            sess.update(self._anon_data(app, request))
            sess.modified = sess.accessed = False
            sess.anon_cookie = bool(request.cookies.get(ANON_COOKIE))
        return sess

    def _open(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 100:
            return ServerSession()
        try:
            db = get_db()
            with snapshot(db, one_statement=True):
                rows = list(db.query("SELECT * FROM web_sessions WHERE id_hash = ?",
                                     (digest(sid),)))
            if rows and session_alive(rows[0], clock().now()):
                opened = ServerSession(json.loads(rows[0]["data"]), sid=sid)
                opened.last_seen = parse(rows[0]["last_seen_at"])
                return opened
            if rows:
                with write(db):
                    db.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (digest(sid),))
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

    def _save_anonymous(self, app, sess: ServerSession, response) -> None:
        """No row for a visitor who is not logged in: the data goes into the signed cookie."""
        kw = dict(path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
                  httponly=True, samesite="Strict")
        if not sess:
            if getattr(sess, "anon_cookie", False):
                response.delete_cookie(ANON_COOKIE, **kw)
            return
        if sess.modified or not getattr(sess, "anon_cookie", False):
            response.set_cookie(ANON_COOKIE, self._anon_serializer(app).dumps(dict(sess)), **kw)
        response.vary.add("Cookie")

    def _save(self, app, sess: ServerSession, response, name):
        if sess.sid is None and not sess.get("_user_id") and set(sess) <= ANON_KEYS:
            if sess.expired:
                response.delete_cookie(name, path=self.get_cookie_path(app),
                                       secure=self.get_cookie_secure(app), httponly=True,
                                       samesite=self.get_cookie_samesite(app))
            return self._save_anonymous(app, sess, response)
        db = get_db()
        at = iso(clock().now())
        if getattr(sess, "anon_cookie", False):  # logging in: the anonymous cookie is done
            response.delete_cookie(ANON_COOKIE, path=self.get_cookie_path(app),
                                   secure=self.get_cookie_secure(app), httponly=True,
                                   samesite="Strict")
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
