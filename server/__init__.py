"""HwC Inbox: a school-side inbox for Handle with Care signals.

`create_app()` is the only way an app is made — by `serve`, `demo`, the tests and the benchmarks.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from . import config as config_mod
from . import db as db_mod
from .clock import SystemClock

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None, *, clock=None, env: dict | None = None) -> Flask:
    # Flask is imported here, not at the top, so `server.client` (the municipality's send tool,
    # importable by other programs) does not drag in the web framework.
    from flask import Flask, Response

    from . import webhooks  # noqa: F401  (registers the receipt-webhook delivery job)

    cfg = config_mod.load(overrides, env=env)
    for needed in ("templates", "static", "manifest.json"):
        if not (ROOT / needed).exists():
            raise config_mod.ConfigError(
                f"{ROOT / needed} is missing: install HwC Inbox from a checkout (pip install -e .)")
    db_mod.init_data_dir(cfg.data_dir)  # idempotent; also runs migrations

    app = Flask(__name__, static_folder=str(ROOT / "static"), static_url_path="/static",
                template_folder=str(ROOT / "templates"))
    app.config["HWC"] = cfg
    app.extensions["hwc_clock"] = clock or SystemClock()
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

    app.json.sort_keys = False  # API bodies keep the order the contract lists them in
    from . import web
    web.init_app(app)

    from . import api
    app.register_blueprint(api.bp)

    from . import push
    push.register()  # the push step of the minute sweep (plan + deliver)
    from . import admin, auth
    auth.init_app(app)  # server-side sessions, Flask-Login, CSRF (API exempt), /auth
    app.jinja_env.globals["passkey_fresh"] = auth.assertion_is_fresh
    app.register_blueprint(admin.bp)
    from . import push_routes
    app.register_blueprint(push_routes.bp)
    from . import inbox, teacher
    app.register_blueprint(inbox.bp)
    app.register_blueprint(teacher.bp)
    from . import pwa
    app.register_blueprint(pwa.bp)
    from . import me
    app.register_blueprint(me.bp)

    @app.get("/healthz")
    def healthz():
        try:
            web.get_db().conn.execute("SELECT 1 FROM signals LIMIT 1").fetchall()
        except Exception:
            return {"status": "unavailable"}, 503
        return {"status": "ok"}

    @app.get("/manifest.json")
    def manifest():
        body = (ROOT / "manifest.json").read_text(encoding="utf-8")
        resp = Response(body, mimetype="application/manifest+json")
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return resp

    @app.get("/")
    def index():
        from flask import render_template
        return render_template("index.html")

    return app
