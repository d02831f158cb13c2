"""Server-side sessions, timeouts, logout everywhere, role checks and step-up — all on a fake clock."""
from __future__ import annotations

import hashlib

import pytest

from .auth_helpers import Device, enrolled, invite
from server import staff as staff_mod
from server.web.guards import current_staff, role_required, step_up_required


@pytest.fixture
def auth(auth, school_receives):
    """The conftest token, to a school that has a receiver (one without refuses signals, 422)."""
    return auth


@pytest.fixture
def sensitive(app):
    """A sensitive route as other blueprints will write it (GET confirms, POST acts)."""
    hits = []

    @role_required("receiver", "backup")
    @step_up_required
    def view():
        if __import__("flask").request.method == "POST":
            hits.append(current_staff().id)
            return "done"
        return "confirm page"

    app.add_url_rule("/test/sensitive", "sensitive", view, methods=["GET", "POST"])
    return hits


def session_rows(db):
    return db.conn.execute("SELECT count(*) FROM web_sessions WHERE staff_id IS NOT NULL").fetchone()[0]


def cookie(device):
    return device.client.get_cookie("hwc_session")


def test_cookie_is_opaque_httponly_strict(app, db, clock, school):
    device = Device(app)
    token = invite(db, clock, school["id"])
    device.client.get(f"/auth/invite/{token}")
    resp = device.enrol(token)
    set_cookie = resp.headers.get("Set-Cookie")
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Secure" not in set_cookie  # localhost demo; https is covered below
    value = cookie(device).value
    assert len(value) == 43 and "." not in value
    row = db.conn.execute("SELECT id_hash, data, staff_id FROM web_sessions WHERE staff_id IS NOT NULL").fetchone()
    assert row[0] == hashlib.sha256(value.encode()).hexdigest() and value not in row[1]
    assert '"_user_id":"1"' in row[1]


def test_secure_cookie_outside_localhost(tmp_path, clock):
    from server import create_app
    app = create_app({"data_dir": tmp_path / "d", "testing": True,
                      "base_url": "https://hwc.school.example"}, clock=clock, env={})
    resp = app.test_client().get("/auth/login", base_url="https://hwc.school.example")
    assert "Secure" in resp.headers["Set-Cookie"] and "SameSite=Strict" in resp.headers["Set-Cookie"]


def test_login_gives_a_new_session_id(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    before = cookie(device).value
    device.client.post("/auth/logout", data={"csrf_token": device.csrf()})
    device.client.get("/auth/login")
    # Logged out, the visitor has no server session id at all (no row either: issue 11 item 3);
    # only the signed anonymous cookie with the CSRF secret.
    assert cookie(device) is None and device.client.get_cookie("hwc_anon") is not None
    assert device.login().status_code == 200
    assert cookie(device).value != before
    assert not db.conn.execute("SELECT 1 FROM web_sessions WHERE id_hash = ?",
                               (hashlib.sha256(before.encode()).hexdigest(),)).fetchone()


def test_idle_timeout_is_15_minutes(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    clock.advance(minutes=14, seconds=59)
    assert device.client.get("/auth/passkeys").status_code == 200
    clock.advance(minutes=10)  # activity above renewed the idle window
    assert device.client.get("/auth/passkeys").status_code == 200
    clock.advance(minutes=15, seconds=1)
    resp = device.client.get("/auth/passkeys")
    assert resp.status_code == 302 and "verlopen=1" in resp.headers["Location"]
    assert session_rows(db) == 0
    assert "niet actief" in device.client.get(resp.headers["Location"]).get_data(as_text=True)


def test_absolute_timeout_is_12_hours(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    for _ in range(71):  # busy all day: a request every 10 minutes
        clock.advance(minutes=10)
        assert device.client.get("/auth/passkeys").status_code == 200
    clock.advance(minutes=10)  # 12 h after login
    assert device.client.get("/auth/passkeys").status_code == 302


def test_static_files_do_not_count_as_activity(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    clock.advance(minutes=10)
    device.client.get("/static/css/app.css")
    clock.advance(minutes=6)
    assert device.client.get("/auth/passkeys").status_code == 302


def test_logout_ends_the_server_session(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    stolen = cookie(device).value
    resp = device.client.post("/auth/logout", data={"csrf_token": device.csrf()})
    assert resp.status_code == 303 and session_rows(db) == 0
    thief = app.test_client()
    thief.set_cookie("hwc_session", stolen)
    assert thief.get("/auth/passkeys").status_code == 302


def test_deactivation_logs_out_everywhere(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], roles=("director",), name="Dirk Verzonnen")
    phone = enrolled(app, db, clock, school["id"], roles=("teacher",), name="Tom Leraar")
    sid = db.conn.execute("SELECT id FROM staff WHERE display_name='Tom Leraar'").fetchone()[0]
    laptop = Device(app)
    laptop.authenticator = phone.authenticator
    assert laptop.login().status_code == 200
    assert phone.client.get("/auth/passkeys").status_code == 200
    assert director.form(f"/admin/staff/{sid}/deactivate", {"confirmed": "1"},
                         page=f"/admin/staff/{sid}").status_code == 303
    assert phone.client.get("/auth/passkeys").status_code == 302
    assert laptop.client.get("/auth/passkeys").status_code == 302
    assert db.conn.execute("SELECT count(*) FROM web_sessions WHERE staff_id = ?", (sid,)).fetchone()[0] == 0
    assert director.client.get("/admin/").status_code == 200


def test_role_required(app, db, clock, school, sensitive):
    anon = app.test_client()
    resp = anon.get("/test/sensitive")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login?next=")
    assert anon.get("/test/sensitive", headers={"Accept": "application/json"}).status_code == 401
    teacher = enrolled(app, db, clock, school["id"], roles=("teacher",), name="Tom Leraar")
    assert teacher.client.get("/test/sensitive").status_code == 403
    backup = enrolled(app, db, clock, school["id"], roles=("backup",), name="Bea Achter")
    assert backup.client.get("/test/sensitive").status_code == 200


def test_step_up_freshness(app, db, clock, school, sensitive):
    device = enrolled(app, db, clock, school["id"])
    token = device.csrf()
    clock.advance(minutes=1, seconds=59)  # enrolment counts as a fresh user-verified assertion
    assert device.client.post("/test/sensitive", headers={"X-CSRFToken": token}).status_code == 200
    assert len(sensitive) == 1
    clock.advance(seconds=2)
    resp = device.client.post("/test/sensitive", headers={"X-CSRFToken": token})
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/auth/step-up?next=/test/sensitive"
    resp = device.client.post("/test/sensitive", headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "step_up_required"
    assert len(sensitive) == 1
    assert device.client.get(resp.get_json()["step_up_url"]).status_code == 200

    resp = device.step_up(next="/test/sensitive")
    assert resp.status_code == 200 and resp.get_json()["redirect"] == "/test/sensitive"
    assert device.client.post("/test/sensitive", headers={"X-CSRFToken": device.csrf()}).status_code == 200
    assert len(sensitive) == 2


def test_step_up_refuses_someone_elses_passkey_and_stale_challenges(app, db, clock, school, sensitive):
    ilse = enrolled(app, db, clock, school["id"])
    bea = enrolled(app, db, clock, school["id"], roles=("backup",), name="Bea Achter")
    clock.advance(minutes=3)
    token = ilse.csrf()
    options = ilse.post_json("/auth/step-up/options", token=token).get_json()
    bea_cred = next(iter(bea.authenticator.credentials))
    forged = bea.authenticator.get(options, credential_id=bea_cred)
    assert ilse.post_json("/auth/step-up/verify", {"credential": forged}, token=token).status_code == 401
    options = ilse.post_json("/auth/step-up/options", token=token).get_json()
    clock.advance(minutes=5, seconds=1)
    cred = ilse.authenticator.get(options)
    assert ilse.post_json("/auth/step-up/verify", {"credential": cred}, token=token).status_code == 401
    # A login challenge cannot be used as a step-up either.
    login_options = ilse.post_json("/auth/login/options", token=token).get_json()
    cred = ilse.authenticator.get(login_options)
    assert ilse.post_json("/auth/step-up/verify", {"credential": cred}, token=token).status_code == 401
    resp = ilse.client.post("/test/sensitive", headers={"X-CSRFToken": token})
    assert resp.status_code == 303


def test_csrf_refuses_forms_and_json_without_token(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], roles=("director",), name="Dirk Verzonnen")
    resp = director.client.post("/admin/invite", data={"display_name": "Nina Nieuw", "roles": "teacher"})
    assert resp.status_code == 400
    assert db.conn.execute("SELECT count(*) FROM invites").fetchone()[0] == 1  # only the director's
    assert director.client.post("/auth/logout").status_code == 400
    assert director.client.get("/admin/").status_code == 200  # still logged in
    anon = app.test_client()
    assert anon.post("/auth/login/options", json={}).status_code == 400
    resp = director.client.post("/admin/invite", data={"display_name": "Nina Nieuw", "roles": "teacher",
                                                       "csrf_token": "forged"})
    assert resp.status_code == 400


def test_cross_site_posts_are_refused_even_with_a_token(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    token = device.csrf()
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        resp = device.client.post("/auth/logout", data={"csrf_token": token}, headers=headers)
        assert resp.status_code == 403
    resp = device.client.post("/auth/logout", data={"csrf_token": token},
                              headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert resp.status_code == 303


def test_api_blueprint_is_csrf_exempt(app, client, auth):
    body = {"school": "12AB", "reference": "REF-CSRF",
            "child": {"name": "Sanne Verzonnen", "birth_date": "2017-04-02"}}
    resp = client.post("/api/v1/signals", json=body, headers=auth)
    assert resp.status_code == 201


def test_login_is_rate_limited(app, db, clock, school):
    app.config["HWC_AUTH_RATE_LIMIT"] = "5/minute"
    device = Device(app)
    token = device.csrf()
    codes = [device.post_json("/auth/login/options", token=token).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]


def test_challenges_and_sessions_hold_no_secrets_in_flask_cookie(app, db, clock, school):
    from itsdangerous import URLSafeTimedSerializer
    device = Device(app)
    options = device.login_options()
    assert db.conn.execute("SELECT count(*) FROM webauthn_challenges").fetchone()[0] == 1
    # Not logged in: no server session (issue 11 item 3); the signed anonymous cookie holds the
    # CSRF secret and nothing else — never the challenge.
    assert cookie(device) is None
    assert db.conn.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0
    raw = device.client.get_cookie("hwc_anon").value
    data = URLSafeTimedSerializer(app.secret_key, salt="hwc-anonymous-session").loads(raw)
    assert set(data) == {"csrf_token"} and options["challenge"] not in raw
    person = enrolled(app, db, clock, school["id"])
    assert len(cookie(person).value) == 43  # logged in: the cookie is only the opaque id


def test_current_staff_shape(app, db, clock, school):
    seen = {}

    @role_required("teacher")
    def whoami():
        me = current_staff()
        seen.update(id=me.id, school_id=me["school_id"], name=me.display_name,
                    group=me.group_name, roles=me.roles)
        return "ok"

    app.add_url_rule("/test/whoami", "whoami", whoami)
    device = enrolled(app, db, clock, school["id"], roles=("teacher", "backup"), name="Tom Leraar",
                      group="groep 5")
    assert device.client.get("/test/whoami").status_code == 200
    assert seen == {"id": 1, "school_id": school["id"], "name": "Tom Leraar", "group": "groep 5",
                    "roles": {"teacher", "backup"}}
    assert staff_mod.get(db, 1)["roles"] == {"teacher", "backup"}
