"""The push blueprint through the real login: subscribe, list, unsubscribe, CSRF, ownership."""
from __future__ import annotations

import pytest
from server.push import subscriptions as push_subscriptions
from server.push import vapid as push_vapid

from .auth_helpers import enrolled
from .push_helpers import Device as PushDevice


def staff_id(db, name):
    return db.conn.execute("SELECT id FROM staff WHERE display_name = ?", (name,)).fetchone()[0]


@pytest.fixture
def person(app, db, clock, school):
    def _person(name="Ilse Bedacht", roles=("receiver",)):
        device = enrolled(app, db, clock, school["id"], roles, name)
        return device, staff_id(db, name)
    return _person


def sub():
    return PushDevice("https://fcm.googleapis.com/fcm/send/route-test").subscription()


def test_key_is_public(app, data_dir):

    resp = app.test_client().get("/push/key")
    assert resp.status_code == 200
    assert resp.get_json() == {"key": push_vapid.application_server_key(data_dir)}


def test_subscribe_needs_login_and_csrf(app, person, db):
    anonymous = app.test_client()
    resp = anonymous.post("/push/subscribe", json={"subscription": sub()},
                          headers={"Accept": "application/json"})
    assert resp.status_code in (400, 401, 302, 303)  # CSRF or login: refused either way
    device, _me = person()
    assert device.client.post("/push/subscribe", json={"subscription": sub()}).status_code == 400
    resp = device.client.post("/push/subscribe", json={"subscription": sub()},
                              headers={"X-CSRFToken": "forged"})
    assert resp.status_code == 400
    assert db.conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


def test_subscribe_list_unsubscribe(person, db):

    device, me = person()
    other_device, _other = person("Tom Leraar", ("teacher",))
    token = device.csrf()
    headers = {"X-CSRFToken": token, "User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) Chrome/126"}
    resp = device.client.post("/push/subscribe", json={"subscription": sub()}, headers=headers)
    assert resp.status_code == 201
    row = resp.get_json()
    assert row["label"] == "Android-telefoon" and "endpoint" not in row
    assert [d["id"] for d in push_subscriptions.list_for(db, me)] == [row["id"]]
    bad = device.client.post("/push/subscribe", json={"subscription": {"endpoint": "http://x"}},
                             headers=headers)
    assert bad.status_code == 422 and "https" in bad.get_json()["error"]
    not_json = device.client.post("/push/subscribe", data="x", headers=headers)
    assert not_json.status_code == 415
    # someone else cannot remove my device
    resp = other_device.post_json(f"/push/unsubscribe/{row['id']}")
    assert resp.status_code == 404 and len(push_subscriptions.list_for(db, me)) == 1
    resp = device.client.post(f"/push/unsubscribe/{row['id']}", headers=headers)
    assert resp.status_code == 200 and push_subscriptions.list_for(db, me) == []


def test_unsubscribe_form_redirects_only_on_site(person, db, clock):

    device, me = person()
    token = device.csrf()
    row = push_subscriptions.subscribe(db, me, sub(), "", clock.now())
    resp = device.client.post(f"/push/unsubscribe/{row['id']}",
                              data={"csrf_token": token, "next": "//evil.example/x"})
    assert resp.status_code == 200 and push_subscriptions.list_for(db, me) == []
    row = push_subscriptions.subscribe(db, me, sub(), "", clock.now())
    resp = device.client.post(f"/push/unsubscribe/{row['id']}",
                              data={"csrf_token": token, "next": "/instellingen"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/instellingen"


def test_user_agent_labels():
    from server.push.subscriptions import label_from_user_agent
    assert label_from_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4)") == "iPhone"
    assert label_from_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") == \
        "Windows-computer"
    assert label_from_user_agent("") == "Onbekend apparaat"
