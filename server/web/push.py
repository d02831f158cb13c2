"""Push routes: the public VAPID key, and a signed-in person's devices. Thin: the rules are in
`server.push.subscriptions`."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, jsonify, redirect, request

from ..push import subscriptions
from ..push.vapid import application_server_key
from .base import cfg, get_db, now
from .guards import current_staff, role_required

bp = Blueprint("push", __name__, url_prefix="/push")

ANY_ROLE = ("director", "receiver", "backup", "teacher", "officer")  # officer: issue 13
_LOCAL_PATH = re.compile(r"/(?:[A-Za-z0-9_-]+/?)*")


def _check_csrf() -> None:
    """The token from `<meta name="csrf-token">` in the X-CSRFToken header (fetch) or the
    `csrf_token` field (a settings-page form). Checked here too, so the routes are safe even
    where the global CSRFProtect is not installed."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    from flask_wtf.csrf import ValidationError, validate_csrf
    token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token", "")
    try:
        validate_csrf(token)
    except ValidationError:
        abort(400, "CSRF token missing or invalid")


@bp.get("/key")
def key():
    """The application server key for PushManager.subscribe(); public by nature."""
    return jsonify({"key": application_server_key(cfg().data_dir)})


@bp.post("/subscribe")
@role_required(*ANY_ROLE)
def subscribe():
    _check_csrf()
    if not request.is_json:
        return jsonify({"error": "Stuur het abonnement als JSON."}), 415
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"error": "Het abonnement is geen geldige JSON."}), 400
    label = body.get("label") or subscriptions.label_from_user_agent(
        request.headers.get("User-Agent", ""))
    try:
        row = subscriptions.subscribe(get_db(), current_staff().id, body.get("subscription"), label,
                             now(), allow_local=cfg().testing, extra_hosts=cfg().push_hosts)
    except subscriptions.SubscriptionError as exc:
        return jsonify({"error": str(exc)}), 422
    return jsonify(row), 201


@bp.post("/unsubscribe/<int:sub_id>")
@role_required(*ANY_ROLE)
def unsubscribe(sub_id: int):
    _check_csrf()
    removed = subscriptions.remove(get_db(), current_staff().id, sub_id)
    target = request.form.get("next", "")
    if _LOCAL_PATH.fullmatch(target):  # back to the settings page; never off-site
        return redirect(target, code=303)
    if not removed:
        return jsonify({"error": "Dit apparaat is niet (meer) gekoppeld."}), 404
    return jsonify({"removed": True})
