"""Flask glue shared by every blueprint: the request's database, clock and config; the rate
limiter; security headers; generic error pages. Keeps routes thin and the domain core free of
Flask."""
from __future__ import annotations

import logging

from flask import current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..deadlines import Deadlines
from ..tokens import digest
from .ratelimit_store import DecoratorOnlyLimiter

log = logging.getLogger("hwc")


def _rate_key() -> str:
    """Rate-limit per bearer token (hashed) for machines, per address for people.

    Only on the API does a token choose the bucket: elsewhere a made-up Authorization header
    must not buy a fresh bucket for every login attempt.
    """
    header = request.headers.get("Authorization", "")
    if request.blueprint == "api" and header.startswith("Bearer "):
        return "tok:" + digest(header[7:])
    return "ip:" + (request.remote_addr or "?")


#: Only route decorators are checked (see DecoratorOnlyLimiter); importing ratelimit_store also
#: registered the hwc-memory:// store named here.
limiter = DecoratorOnlyLimiter(key_func=_rate_key, storage_uri="hwc-memory://",
                               strategy="moving-window", headers_enabled=True)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; "
       "base-uri 'none'; object-src 'none'; frame-ancestors 'none'")

PERMISSIONS_POLICY = ("camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
                      "interest-cohort=(), browsing-topics=()")


def cfg():
    return current_app.config["HWC"]


def clock():
    return current_app.extensions["hwc_clock"]


def now():
    return clock().now()


def qr_markup(link: str):
    """A QR code of a one-time link as inline SVG in the page itself: a QR image at a URL of its
    own would put the link's token in a GET path, and so in every proxy's access log."""
    import segno
    from markupsafe import Markup

    svg = segno.make(link, error="m").svg_inline(scale=4, title="QR-code met de link")
    return Markup(svg)  # segno escapes the title; the data is only the encoded link


def deadlines():
    """The configured deadlines as durations, for the state machine."""
    return Deadlines.from_config(cfg())


def get_db():
    """The request's connection: this thread's kept connection, checked as it is handed out."""
    if "db" not in g:
        g.db = current_app.extensions["hwc_pool"].get()
    return g.db


def close_db(_exc=None) -> None:
    database = g.pop("db", None)
    if database is not None:
        current_app.extensions["hwc_pool"].release(database)


def security_headers(response):
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Frame-Options"] = "DENY"
    h["Permissions-Policy"] = PERMISSIONS_POLICY
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    if cfg().secure_transport:
        h["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    # Nothing dynamic is cacheable unless a route says so explicitly (static files do).
    if request.endpoint != "static" and "Cache-Control" not in h:
        h["Cache-Control"] = "no-store"
    return response


def is_machine_request() -> bool:
    """The municipality API and the health check answer errors in JSON, whatever was asked."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def handle_http_error(exc: HTTPException):
    if is_machine_request():
        resp = jsonify({"error": exc.name.lower()})
    else:
        resp = current_app.make_response(
            render_template("error.html", code=exc.code, title=exc.name))
    resp.status_code = exc.code or 500
    # Keep what the exception says about the protocol (Allow on 405, WWW-Authenticate, …).
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            resp.headers[name] = value
    return resp


def handle_unexpected(exc: Exception):
    # Log the type and where, never the message: a message may carry data it should not.
    log.error("unhandled %s at %s %s", type(exc).__name__, request.method, request.path,
              exc_info=False)
    if is_machine_request():
        return jsonify({"error": "internal error"}), 500
    return render_template("error.html", code=500, title="Er ging iets mis"), 500


def init_app(app) -> None:
    app.teardown_appcontext(close_db)
    app.after_request(security_headers)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    limiter.init_app(app)
