"""The installable-app shell: the service worker at root scope, the offline page and the public
tips pages (see docs/decisions/0005-public-tips-page.md for why tips need no login).

The service worker may cache exactly `SHELL_URLS` and nothing else. Its cache name is a hash of
the files behind those URLs, so changing any of them makes the browser install a fresh worker.
"""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, current_app, render_template, request

from .. import tips as tips_mod
from ..config import PROJECT_ROOT

bp = Blueprint("pwa", __name__)

#: Public pages the service worker keeps for offline use.
SHELL_PAGES = ("/offline", "/tips", "/tips/vo")
#: Static files (relative to static/) the service worker keeps.
SHELL_STATIC = (
    "css/app.css",
    "js/common.js",
    "js/app.js",
    "icons/favicon-32.png",
    "icons/apple-touch-icon.png",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/icon-maskable-192.png",
    "icons/icon-maskable-512.png",
)
#: The complete allow-list, as same-origin paths. Nothing outside it is ever cached.
SHELL_URLS = SHELL_PAGES + ("/manifest.json",) + tuple(f"/static/{p}" for p in SHELL_STATIC)

SCHOOL_TYPE_NAMES = {"po": "Basisonderwijs", "vo": "Voortgezet onderwijs"}


@bp.record_once
def _on_register(state) -> None:
    # A broken tips file stops the app at start instead of showing a half page at 07:30.
    tips_mod.validate_all()
    state.app.add_template_global(tips_mod.tips_for, "tips_for")
    state.app.add_template_global(tips_mod.label_for, "tips_label")


def _shell_files() -> list:
    static = PROJECT_ROOT / "static"
    files = [static / "js" / "sw.js", PROJECT_ROOT / "manifest.json"]
    files += [static / p for p in SHELL_STATIC]
    templates = PROJECT_ROOT / "templates"
    files += sorted((templates / "pwa").glob("*.html"))
    files += [templates / "base.html", templates / "_macros.html"]
    files += sorted(tips_mod.HERE.glob("*.json"))
    return files


def shell_version() -> str:
    """A short hash over everything the cached shell is made of."""
    digest = hashlib.sha256()
    for path in _shell_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def render_service_worker() -> tuple[str, str]:
    version = shell_version()
    source = (PROJECT_ROOT / "static" / "js" / "sw.js").read_text(encoding="utf-8")
    for placeholder in ('"__HWC_SHELL_URLS__"', "__HWC_CACHE_VERSION__"):
        if placeholder not in source:  # pragma: no cover - guards against an edited sw.js
            raise RuntimeError(f"sw.js lacks the placeholder {placeholder}")
    source = source.replace('"__HWC_SHELL_URLS__"', json.dumps(list(SHELL_URLS)))
    source = source.replace("__HWC_CACHE_VERSION__", version)
    return source, version


@bp.get("/sw.js")
def service_worker():
    body, version = render_service_worker()
    resp = Response(body, content_type="text/javascript; charset=utf-8")
    resp.headers["Service-Worker-Allowed"] = "/"
    resp.headers["Cache-Control"] = "no-cache"
    resp.set_etag(version)
    return resp.make_conditional(request)


def _public_page(html: str) -> Response:
    resp = current_app.make_response(html)
    # Public and free of personal data: the browser may keep it, but must check it is current.
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/offline")
def offline():
    return _public_page(render_template("pwa/offline.html"))


def _tips_page(school_type: str) -> Response:
    return _public_page(render_template(
        "pwa/tips.html", school_type=school_type, moments=tips_mod.MOMENTS,
        school_type_names=SCHOOL_TYPE_NAMES))


@bp.get("/tips")
def tips_po():
    return _tips_page("po")


@bp.get("/tips/vo")
def tips_vo():
    return _tips_page("vo")
