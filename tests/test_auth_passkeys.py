"""Passkey registration and login through py_webauthn with a software authenticator.

No verification is mocked: the soft authenticator makes real P-256 keys, real signatures and
real CBOR, and every refusal below is py_webauthn or our own checks saying no.
"""
from __future__ import annotations

import pytest

from .auth_helpers import Device, enrolled, invite
from server import staff as staff_mod
from server.passkeys import GENERIC_FAIL
from server.tokens import digest
from .webauthn_soft import b64u


def staff_count(db):
    return db.conn.execute("SELECT count(*) FROM staff").fetchone()[0]


def test_enrol_then_login_with_discoverable_passkey(app, db, clock, school):
    device = Device(app)
    token = invite(db, clock, school["id"], roles=("director", "receiver"), name="Dirk Verzonnen")
    page = device.client.get(f"/auth/invite/{token}")
    assert page.status_code == 200 and "Dirk Verzonnen" in page.get_data(as_text=True)

    options = device.registration_options(token)
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["attestation"] == "none"
    resp = device.enrol(token, name="Mijn telefoon", options=options)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["redirect"] == "/admin/"
    person = staff_mod.by_user_handle(db, list(device.authenticator.credentials.values())[0].user_handle)
    assert person["display_name"] == "Dirk Verzonnen" and person["roles"] == {"director", "receiver"}
    assert [p["name"] for p in staff_mod.passkeys_of(db, person["id"])] == ["Mijn telefoon"]
    assert device.client.get("/admin/").status_code == 200  # enrolment logs in

    # A fresh device session: log in with no user name, the passkey says who it is.
    device.client.post("/auth/logout", data={"csrf_token": device.csrf()})
    assert device.client.get("/admin/").status_code == 302
    options = device.login_options()
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    resp = device.login(options)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["redirect"] == "/admin/"
    assert device.client.get("/admin/").status_code == 200
    assert db.conn.execute("SELECT sign_count FROM passkeys").fetchone()[0] == 1


def test_login_redirects_by_role_and_keeps_a_safe_next(app, db, clock, school):
    teacher = enrolled(app, db, clock, school["id"], roles=("teacher",), name="Tom Leraar", group="groep 5")
    teacher.client.post("/auth/logout", data={"csrf_token": teacher.csrf()})
    assert teacher.login().get_json()["redirect"] == "/notes"
    teacher.client.post("/auth/logout", data={"csrf_token": teacher.csrf()})
    assert teacher.login(next="/auth/passkeys").get_json()["redirect"] == "/auth/passkeys"
    teacher.client.post("/auth/logout", data={"csrf_token": teacher.csrf()})
    assert teacher.login(next="//evil.example/x").get_json()["redirect"] == "/notes"
    receiver = enrolled(app, db, clock, school["id"], roles=("backup",), name="Bea Achter")
    receiver.client.post("/auth/logout", data={"csrf_token": receiver.csrf()})
    assert receiver.login().get_json()["redirect"] == "/inbox"


def test_registration_from_wrong_origin_is_refused(app, db, clock, school):
    device = Device(app)
    token = invite(db, clock, school["id"])
    resp = device.enrol(token, origin="http://localhost.evil.example")
    assert resp.status_code == 400 and resp.get_json()["error"] == GENERIC_FAIL
    assert staff_count(db) == 0
    assert staff_mod.invite_status(staff_mod.find_invite(db, token), clock.now()) == "valid"


def test_registration_with_wrong_rp_id_or_without_user_verification_is_refused(app, db, clock, school):
    device = Device(app)
    token = invite(db, clock, school["id"])
    assert device.enrol(token, rp_id="evil.example").status_code == 400
    assert device.enrol(token, uv=False).status_code == 400
    assert staff_count(db) == 0
    assert device.enrol(token).status_code == 200  # the link still works for the real thing


def test_invite_works_once_and_reused_challenge_is_refused(app, db, clock, school):
    device = Device(app)
    token = invite(db, clock, school["id"])
    options = device.registration_options(token)
    assert device.enrol(token, options=options).status_code == 200
    # Same challenge again (and the invite is used): refused, no second person.
    assert device.enrol(token, options=options).status_code == 410
    assert staff_count(db) == 1
    page = Device(app).client.get(f"/auth/invite/{token}")
    assert page.status_code == 410 and "al gebruikt" in page.get_data(as_text=True)


def test_login_reused_challenge_is_refused(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    options = device.login_options()
    assert device.login(options).status_code == 200
    other = Device(app)
    other.authenticator = device.authenticator
    resp = other.login(options)  # replaying the same challenge, freshly signed
    assert resp.status_code == 401 and resp.get_json()["error"] == GENERIC_FAIL
    assert other.client.get("/auth/passkeys").status_code == 302


def test_expired_challenge_is_refused(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    fresh = Device(app)
    fresh.authenticator = device.authenticator
    options = fresh.login_options()
    clock.advance(minutes=5, seconds=1)
    assert fresh.login(options).status_code == 401
    options = fresh.login_options()
    clock.advance(minutes=4, seconds=59)
    assert fresh.login(options).status_code == 200

    token = invite(db, clock, school["id"], name="Nina Nieuw")
    late = Device(app)
    options = late.registration_options(token)
    clock.advance(minutes=6)
    assert late.enrol(token, options=options).status_code == 400
    assert staff_mod.invite_status(staff_mod.find_invite(db, token), clock.now()) == "valid"


def test_login_from_wrong_origin_is_refused(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    fresh = Device(app)
    fresh.authenticator = device.authenticator
    assert fresh.login(origin="https://localhost:8000").status_code == 401
    assert fresh.login(origin="http://localhost:8001").status_code == 401
    assert fresh.login(uv=False).status_code == 401
    assert fresh.login().status_code == 200


def test_sign_count_regression_is_refused(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    fresh = Device(app)
    fresh.authenticator = device.authenticator
    assert fresh.login(sign_count=5).status_code == 200
    assert fresh.login(sign_count=5).status_code == 401  # a clone would repeat a count
    assert fresh.login(sign_count=3).status_code == 401
    assert fresh.login(sign_count=6).status_code == 200


def test_revoked_passkey_is_refused_and_logged_out(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], roles=("director",), name="Dirk Verzonnen")
    device = enrolled(app, db, clock, school["id"])
    sid = db.conn.execute("SELECT id FROM staff WHERE display_name='Ilse Bedacht'").fetchone()[0]
    pid = staff_mod.passkeys_of(db, sid)[0]["id"]
    assert device.client.get("/auth/passkeys").status_code == 200
    resp = director.form(f"/admin/staff/{sid}/passkeys/{pid}/revoke", {"confirmed": "1"}, page=f"/admin/staff/{sid}")
    assert resp.status_code == 303
    assert device.client.get("/auth/passkeys").status_code == 302  # logged out at once
    resp = device.login()
    assert resp.status_code == 401 and resp.get_json()["error"] == GENERIC_FAIL


def test_deactivated_person_is_refused(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"], roles=("teacher",))
    sid = db.conn.execute("SELECT id FROM staff").fetchone()[0]
    staff_mod.deactivate(db, clock.now(), school_id=school["id"], staff_id=sid, actor="test")
    assert device.client.get("/auth/passkeys").status_code == 302
    resp = device.login()
    assert resp.status_code == 401 and resp.get_json()["error"] == GENERIC_FAIL
    staff_mod.reactivate(db, clock.now(), school_id=school["id"], staff_id=sid, actor="test")
    assert device.login().status_code == 200


def test_user_handle_must_match_and_unknown_credentials_look_the_same(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    fresh = Device(app)
    fresh.authenticator = device.authenticator
    assert fresh.login(user_handle=b"\x01" * 32).status_code == 401
    stranger = Device(app)
    stranger.authenticator.create({"rp": {"id": "localhost"}, "user": {"id": b64u(b"x" * 32)},
                                   "challenge": b64u(b"c" * 32)})
    resp = stranger.login()
    assert resp.status_code == 401 and resp.get_json()["error"] == GENERIC_FAIL
    # Missing user handle on a usernameless login is refused too.
    options = fresh.login_options()
    cred = fresh.authenticator.get(options)
    del cred["response"]["userHandle"]
    assert fresh.post_json("/auth/login/verify", {"credential": cred}).status_code == 401
    assert fresh.post_json("/auth/login/verify", {"credential": "nonsense"}).status_code == 401
    assert fresh.post_json("/auth/login/verify", {}).status_code == 401


@pytest.mark.parametrize("how", ["expired", "withdrawn", "unknown"])
def test_dead_invites_say_so_calmly(app, db, clock, school, how):
    token = invite(db, clock, school["id"])
    if how == "expired":
        clock.advance(hours=72)
    elif how == "withdrawn":
        inv = staff_mod.find_invite(db, token)
        staff_mod.withdraw_invite(db, clock.now(), school_id=school["id"], invite_id=inv["id"], actor="test")
    else:
        token = "x" * 43
    device = Device(app)
    page = device.client.get(f"/auth/invite/{token}")
    assert page.status_code in (404, 410)
    text = page.get_data(as_text=True)
    assert {"expired": "verlopen", "withdrawn": "ingetrokken", "unknown": "kennen we niet"}[how] in text
    assert device.post_json(f"/auth/invite/{token}/options").status_code == 410


def test_invite_token_is_stored_hashed(db, clock, school):
    token = invite(db, clock, school["id"])
    raw = b"".join(bytes(str(v), "utf-8") for row in db.conn.execute("SELECT * FROM invites")
                   for v in row)
    assert token.encode() not in raw
    assert staff_mod.find_invite(db, token)["token_hash"] == digest(token)


def test_reinvite_adds_a_passkey_to_the_same_person(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    sid = db.conn.execute("SELECT id FROM staff").fetchone()[0]
    _row, token = staff_mod.create_invite(db, clock.now(), school_id=school["id"], staff_id=sid,
                                          actor="test")
    phone = Device(app)
    options = phone.registration_options(token)
    assert len(options["excludeCredentials"]) == 1
    assert phone.enrol(token, options=options).status_code == 200
    assert staff_count(db) == 1 and len(staff_mod.passkeys_of(db, sid)) == 2
    assert device.login().status_code == 200 and phone.login().status_code == 200


def test_add_and_remove_own_passkeys(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    sid = db.conn.execute("SELECT id FROM staff").fetchone()[0]
    token = device.csrf()
    resp = device.post_json("/auth/passkeys/options", token=token)
    assert resp.status_code == 200
    cred = device.authenticator.create(resp.get_json())
    assert device.post_json("/auth/passkeys/verify", {"credential": cred, "name": "Laptop"},
                            token=token).status_code == 200
    keys = staff_mod.passkeys_of(db, sid)
    assert [k["name"] for k in keys][1] == "Laptop"
    resp = device.form(f"/auth/passkeys/{keys[1]['id']}/rename", {"name": "Laptop school"},
                       page="/auth/passkeys")
    assert resp.status_code == 303 and staff_mod.passkeys_of(db, sid)[1]["name"] == "Laptop school"
    assert device.form(f"/auth/passkeys/{keys[0]['id']}/remove", {"confirmed": "1"}, page="/auth/passkeys").status_code == 303
    assert len(staff_mod.passkeys_of(db, sid)) == 1
    # The last one cannot be removed (the person would lock themselves out).
    device.form(f"/auth/passkeys/{keys[1]['id']}/remove", {"confirmed": "1"}, page="/auth/passkeys")
    assert len(staff_mod.passkeys_of(db, sid)) == 1
    assert device.client.get("/auth/passkeys").status_code == 200  # own session survived


def test_adding_a_passkey_needs_a_fresh_assertion(app, db, clock, school):
    device = enrolled(app, db, clock, school["id"])
    clock.advance(minutes=3)
    resp = device.post_json("/auth/passkeys/options")
    assert resp.status_code == 401 and resp.get_json()["error"] == "step_up_required"
    assert resp.get_json()["step_up_url"].startswith("/auth/step-up?next=")
    assert device.step_up().status_code == 200
    assert device.post_json("/auth/passkeys/options").status_code == 200


def test_rp_id_and_origin_come_from_base_url_not_host(tmp_path, clock):
    from server import create_app, schools
    from server import db as db_mod
    app = create_app({"data_dir": tmp_path / "d", "testing": True,
                      "base_url": "https://hwc.school.example"}, clock=clock, env={})
    database = db_mod.connect(tmp_path / "d")
    school = schools.add(database, clock.now(), brin="12AB", name="OBS De Kastanje")
    token = invite(database, clock, school["id"])
    device = Device(app, origin="http://localhost")  # requests arrive with Host: localhost
    options = device.registration_options(token)
    assert options["rp"]["id"] == "hwc.school.example"
    assert device.enrol(token, options=options).status_code == 400  # signed for localhost origin
    device.authenticator.origin = "https://hwc.school.example"
    options = device.registration_options(token)
    assert device.enrol(token, options=options).status_code == 200
    database.close()
