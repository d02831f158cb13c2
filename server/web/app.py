"""The application factory: the only place the web layer is put together.

`create_app()` is how an app is made — by `serve`, `demo`, the tests and the benchmarks.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, render_template, request
from flask_compress import Compress

from .. import config as config_mod
from .. import db as db_mod
from ..clock import SystemClock
from ..config import PROJECT_ROOT
from ..datadir import init_data_dir
from . import admin, api, auth, base, guards, inbox, me, onboarding, operator, portal, pwa, teacher
from . import push as push_routes
from .converters import SqliteId


#: Responses that carry a child's name are never compressed (ADR 0011): they are one-time and
#: small, and a compressed secret next to anything an attacker could influence is what BREACH
#: measures. Everything else (pages, static files, JSON) is.
NEVER_COMPRESSED = frozenset({"inbox.reveal", "teacher.read"})
COMPRESSED_TYPES = ["text/html", "text/css", "text/javascript", "application/javascript",
                    "application/json", "application/manifest+json", "image/svg+xml", "text/csv",
                    "text/plain"]


def _compress(app: Flask) -> None:
    app.config.update(COMPRESS_REGISTER=False, COMPRESS_MIMETYPES=COMPRESSED_TYPES,
                      COMPRESS_ALGORITHM=["br", "gzip"], COMPRESS_ALGORITHM_STREAMING=["br"],
                      COMPRESS_BR_LEVEL=4,
                      COMPRESS_MIN_SIZE=500)
    compress = Compress(app)

    @app.after_request
    def compressed(response):
        if request.endpoint in NEVER_COMPRESSED:
            response.vary.add("Accept-Encoding")
            return response
        return compress.after_request(response)


def create_app(overrides: dict | None = None, *, clock=None, env: dict | None = None) -> Flask:
    cfg = config_mod.load(overrides, env=env)
    for needed in ("templates", "static", "manifest.json"):
        if not (PROJECT_ROOT / needed).exists():
            raise config_mod.ConfigError(
                f"{PROJECT_ROOT / needed} is missing: install HwC Inbox from a checkout "
                "(pip install -e .)")
    init_data_dir(cfg.data_dir)  # idempotent; also runs migrations

    app = Flask("server", static_folder=str(PROJECT_ROOT / "static"), static_url_path="/static",
                template_folder=str(PROJECT_ROOT / "templates"))
    app.config["HWC"] = cfg
    app.extensions["hwc_clock"] = clock or SystemClock()
    app.extensions["hwc_pool"] = db_mod.Pool(cfg.data_dir)
    app.config.update(
        SECRET_KEY=(cfg.data_dir / "secret_key").read_text().strip(),
        TESTING=cfg.testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=not cfg.is_local,
        SESSION_COOKIE_NAME="hwc_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        SEND_FILE_MAX_AGE_DEFAULT=timedelta(hours=1),
        RATELIMIT_ENABLED=True,
    )
    app.url_map.converters["int"] = SqliteId  # before any route: ids past 64 bits are 404
    app.json.sort_keys = False  # API bodies keep the order the contract lists them in
    _compress(app)

    base.init_app(app)          # database per request, headers, error pages, rate limiter
    app.register_blueprint(api.bp)
    auth.init_app(app)          # server-side sessions, Flask-Login, CSRF, origin check, /auth
    auth.csrf.exempt(api.bp)    # the machine API has a bearer token, not a browser session
    app.jinja_env.globals["passkey_fresh"] = guards.assertion_is_fresh
    for blueprint in (admin.bp, push_routes.bp, inbox.bp, teacher.bp, pwa.bp, me.bp,
                      onboarding.bp, portal.bp, operator.bp):
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz():
        try:
            base.get_db().conn.execute("SELECT 1 FROM signals LIMIT 1").fetchall()
        except Exception:
            return {"status": "unavailable"}, 503
        return {"status": "ok"}

    @app.get("/manifest.json")
    def manifest():
        body = (PROJECT_ROOT / "manifest.json").read_text(encoding="utf-8")
        resp = Response(body, mimetype="application/manifest+json")
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return resp

    @app.get("/")
    def index():
        return render_template("index.html")

    return app
