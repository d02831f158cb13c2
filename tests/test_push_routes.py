"""The push blueprint against the login interface it needs (`server.auth`: role_required,
current_staff). On this branch the login system does not exist yet, so a minimal stand-in with
that interface is installed for these tests only; the integrator's auth replaces it."""
from __future__ import annotations

import functools
import sys
import types

import pytest
from flask import abort, request, session

from .push_helpers import Device


@pytest.fixture
def routes_app(app, monkeypatch):
    fake = types.ModuleType("server.auth")

    class Who:
        def __init__(self, staff_id):
            self.id = staff_id

    def current_staff():
        return Who(int(request.headers["X-Test-Staff"]))

    def role_required(*roles):
        def wrap(view):
            @functools.wraps(view)
            def inner(*a, **kw):
                if "X-Test-Staff" not in request.headers:
                    abort(401)
                return view(*a, **kw)
            return inner
        return wrap

    fake.current_staff, fake.role_required = current_staff, role_required
    monkeypatch.setitem(sys.modules, "server.auth", fake)
    monkeypatch.delitem(sys.modules, "server.push_routes", raising=False)
    from server import push_routes
    app.register_blueprint(push_routes.bp)
    yield app
    sys.modules.pop("server.push_routes", None)  # it was bound to the stand-in auth


@pytest.fixture
def csrf(routes_app):
    """A session with a CSRF token, as the page with <meta name="csrf-token"> would give."""
    from flask_wtf.csrf import generate_csrf
    client = routes_app.test_client()
    with routes_app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    with client.session_transaction() as sess:
        sess["csrf_token"] = raw
    return client, token


def sub():
    return Device("https://fcm.googleapis.com/fcm/send/route-test").subscription()


def test_key_is_public(routes_app, data_dir):
    from server import push
    resp = routes_app.test_client().get("/push/key")
    assert resp.status_code == 200
    assert resp.get_json() == {"key": push.application_server_key(data_dir)}


def test_subscribe_needs_login_and_csrf(csrf, staff, db):
    client, token = csrf
    me = staff()
    assert client.post("/push/subscribe", json={"subscription": sub()}).status_code == 401
    resp = client.post("/push/subscribe", json={"subscription": sub()},
                       headers={"X-Test-Staff": str(me)})
    assert resp.status_code == 400
    resp = client.post("/push/subscribe", json={"subscription": sub()},
                       headers={"X-Test-Staff": str(me), "X-CSRFToken": "forged"})
    assert resp.status_code == 400
    assert db.conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


def test_subscribe_list_unsubscribe(csrf, staff, db):
    from server import push
    client, token = csrf
    me, other = staff(), staff("Tom Leraar", ["teacher"])
    headers = {"X-Test-Staff": str(me), "X-CSRFToken": token,
               "User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) Chrome/126"}
    resp = client.post("/push/subscribe", json={"subscription": sub()}, headers=headers)
    assert resp.status_code == 201
    row = resp.get_json()
    assert row["label"] == "Android-telefoon" and "endpoint" not in row
    assert [d["id"] for d in push.list_for(db, me)] == [row["id"]]
    bad = client.post("/push/subscribe", json={"subscription": {"endpoint": "http://x"}},
                      headers=headers)
    assert bad.status_code == 422 and "https" in bad.get_json()["error"]
    not_json = client.post("/push/subscribe", data="x", headers=headers)
    assert not_json.status_code == 415
    # someone else cannot remove my device
    resp = client.post(f"/push/unsubscribe/{row['id']}",
                       headers={"X-Test-Staff": str(other), "X-CSRFToken": token})
    assert resp.status_code == 404 and len(push.list_for(db, me)) == 1
    resp = client.post(f"/push/unsubscribe/{row['id']}", headers=headers)
    assert resp.status_code == 200 and push.list_for(db, me) == []


def test_unsubscribe_form_redirects_only_on_site(csrf, staff, db, clock):
    from server import push
    client, token = csrf
    me = staff()
    row = push.subscribe(db, me, sub(), "", clock.now())
    resp = client.post(f"/push/unsubscribe/{row['id']}", headers={"X-Test-Staff": str(me)},
                       data={"csrf_token": token, "next": "//evil.example/x"})
    assert resp.status_code == 200 and push.list_for(db, me) == []
    row = push.subscribe(db, me, sub(), "", clock.now())
    resp = client.post(f"/push/unsubscribe/{row['id']}", headers={"X-Test-Staff": str(me)},
                       data={"csrf_token": token, "next": "/instellingen"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/instellingen"


def test_user_agent_labels():
    from server.push import label_from_user_agent
    assert label_from_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4)") == "iPhone"
    assert label_from_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") == \
        "Windows-computer"
    assert label_from_user_agent("") == "Onbekend apparaat"
