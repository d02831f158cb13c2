"""Nobody can lock colleagues out of login, and a visitor who is not logged in writes nothing.

Before: 30 anonymous `POST /auth/login/options` a minute from one address gave everyone behind
that address 429, an invite-link scanner hit 429 on plain page views, and 4,599 anonymous
requests wrote 4,599 `web_sessions` rows. All names are invented.
"""
from __future__ import annotations

import base64

from server import passkeys

from .auth_helpers import Device, enrolled, invite


def count(db, table: str) -> int:
    return db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def logged_out(device: Device) -> Device:
    device.client.post("/auth/logout", data={"csrf_token": device.csrf()})
    return device


def forged(assertion: dict) -> dict:
    """The same assertion with a broken signature: what someone without the key can send."""
    sig = bytearray(base64.urlsafe_b64decode(assertion["response"]["signature"] + "=="))
    sig[-1] ^= 0x01
    bad = dict(assertion, response=dict(assertion["response"]))
    bad["response"]["signature"] = base64.urlsafe_b64encode(bytes(sig)).rstrip(b"=").decode()
    return bad


def test_a_flood_of_login_options_from_one_address_locks_nobody_else_out(app, db, clock, school):
    ilse = logged_out(enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"))
    # The same address (every test client is 127.0.0.1): one abuser with one browser ...
    abuser = Device(app)
    token = abuser.csrf()
    codes = [abuser.post_json("/auth/login/options", token=token).status_code for _ in range(100)]
    assert codes.count(200) == 30 and codes[-1] == 429   # only its own challenges are throttled
    # ... and one that takes a fresh cookie (and CSRF token) for every request.
    for _ in range(100):
        assert Device(app).post_json("/auth/login/options").status_code == 200
    # Plain page views from that address are not limited (an invite-link scanner, a colleague).
    pending = invite(db, clock, school["id"], ("teacher",), "Tom Leraar")
    for _ in range(100):
        assert abuser.client.get("/auth/login").status_code == 200
        assert abuser.client.get(f"/auth/invite/{pending}").status_code == 200
    # The colleague behind the same address logs in at once.
    resp = ilse.login()
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_failed_verifications_against_one_credential_are_throttled(app, db, clock, school):
    ilse = logged_out(enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"))
    app.config["HWC_LOGIN_FAILURES_PER_CREDENTIAL"] = "5/15 minutes"
    codes = []
    for _ in range(8):
        attacker = Device(app)  # a fresh browser each time: the per-client budget never fills
        options = attacker.login_options()
        codes.append(attacker.post_json("/auth/login/verify", {
            "credential": forged(ilse.authenticator.get(options))}).status_code)
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    # Someone else's failures never refuse a valid passkey, from the same address too.
    assert ilse.login().status_code == 200


def test_a_client_that_keeps_failing_is_refused_before_any_work(app, db, clock, school):
    ilse = logged_out(enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"))
    attacker = Device(app)
    token = attacker.csrf()
    codes = []
    for _ in range(12):
        options = attacker.post_json("/auth/login/options", token=token).get_json()
        codes.append(attacker.post_json("/auth/login/verify", {
            "credential": forged(ilse.authenticator.get(options))}, token=token).status_code)
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    before = count(db, "webauthn_challenges")
    options = attacker.post_json("/auth/login/options", token=token).get_json()
    resp = attacker.post_json("/auth/login/verify",
                              {"credential": ilse.authenticator.get(options)}, token=token)
    assert resp.status_code == 429 and count(db, "webauthn_challenges") == before + 1  # unused
    # Ilse, on her own phone behind the same address, is not affected.
    assert ilse.login().status_code == 200


def test_outstanding_challenges_stay_bounded_and_expired_ones_are_purged(app, db, clock, school,
                                                                        monkeypatch):
    monkeypatch.setattr(passkeys, "MAX_OUTSTANDING_CHALLENGES", 20)
    passkeys.issue_challenge(db, clock.now(), "step_up", staff_id=1)
    for _ in range(60):
        assert Device(app).post_json("/auth/login/options").status_code == 200
    by_purpose = dict(db.conn.execute(
        "SELECT purpose, count(*) FROM webauthn_challenges GROUP BY purpose").fetchall())
    assert by_purpose == {"login": 20, "step_up": 1}   # a login flood evicts only login ones
    clock.advance(minutes=6)
    assert Device(app).post_json("/auth/login/options").status_code == 200
    assert count(db, "webauthn_challenges") == 1


def test_the_newest_challenge_survives_a_flood(app, db, clock, school, monkeypatch):
    """Eviction takes the oldest: a person's ceremony breaks only if a flood issues the whole
    bound within the seconds it takes them to touch the sensor."""
    monkeypatch.setattr(passkeys, "MAX_OUTSTANDING_CHALLENGES", 20)
    ilse = logged_out(enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"))
    options = ilse.login_options()
    for _ in range(18):
        Device(app).post_json("/auth/login/options")
    assert ilse.login(options).status_code == 200


def test_anonymous_visits_write_nothing(app, db, clock, school, data_dir):
    pending = invite(db, clock, school["id"], ("teacher",), "Tom Leraar")
    hwc_db = data_dir / "hwc.db"
    before = hwc_db.read_bytes()
    sessions = count(db, "web_sessions")
    visitors = [Device(app) for _ in range(5)]
    for device in visitors:
        for _ in range(10):
            for path in ("/", "/auth/login", "/tips", f"/auth/invite/{pending}",
                         "/auth/invite/not-a-real-token", "/inbox", "/admin/"):
                assert device.client.get(path).status_code in (200, 302, 404)
    assert hwc_db.read_bytes() == before, "an anonymous page view wrote to the database"
    # Asking for a login challenge writes the challenge (bounded, purged) and nothing else.
    for device in visitors:
        token = device.csrf()
        for _ in range(10):
            assert device.post_json("/auth/login/options", token=token).status_code == 200
    assert count(db, "web_sessions") == sessions == 0
    assert count(db, "webauthn_challenges") == 50
    # A CSRF-protected form still works for an anonymous visitor (the token is in the signed
    # cookie), and a forged or missing token is still refused.
    device = visitors[0]
    assert device.client.post("/auth/login/options", json={},
                              headers={"X-CSRFToken": "forged"}).status_code == 400
    other = Device(app)
    assert device.client.post("/auth/login/options", json={},
                              headers={"X-CSRFToken": other.csrf()}).status_code == 400
    assert count(db, "web_sessions") == 0


def test_login_moves_the_visitor_into_a_server_session(app, db, clock, school):
    ilse = logged_out(enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"))
    ilse.client.get("/auth/login")
    assert ilse.client.get_cookie("hwc_anon") is not None
    assert count(db, "web_sessions") == 0
    assert ilse.login().status_code == 200
    assert ilse.client.get_cookie("hwc_anon") is None
    assert ilse.client.get_cookie("hwc_session") is not None
    assert count(db, "web_sessions") == 1
    assert ilse.client.get("/inbox").status_code == 200


def test_a_limit_the_limiter_would_not_check_is_refused():
    """Only route decorators are checked (`DecoratorOnlyLimiter` skips Flask-Limiter's
    per-request hook), so a default, application or blueprint-wide limit must fail loudly at
    start-up instead of silently never applying."""
    import flask
    import pytest

    from server.web.ratelimit_store import DecoratorOnlyLimiter

    def key():
        return "k"

    for kind in ("default_limits", "application_limits", "meta_limits"):
        with pytest.raises(ValueError, match=kind):
            DecoratorOnlyLimiter(key, storage_uri="hwc-memory://", **{kind: ["1/minute"]})
    app = flask.Flask("t")
    app.config["RATELIMIT_DEFAULT"] = "1/minute"
    with pytest.raises(ValueError, match="RATELIMIT_DEFAULT"):
        DecoratorOnlyLimiter(key, storage_uri="hwc-memory://").init_app(app)
    limiter = DecoratorOnlyLimiter(key, storage_uri="hwc-memory://")
    with pytest.raises(TypeError):
        limiter.limit("1/minute")(flask.Blueprint("bp", __name__))
    with pytest.raises(TypeError):
        limiter.shared_limit("1/minute", scope="s")(flask.Blueprint("bp2", __name__))

    app = flask.Flask("t")
    limiter.init_app(app)
    app.add_url_rule("/open", "open", lambda: "ok")
    app.add_url_rule("/limited", "limited", limiter.limit("2/minute")(lambda: "ok"))
    client = app.test_client()
    assert [client.get("/limited").status_code for _ in range(3)] == [200, 200, 429]
    assert {client.get("/open").status_code for _ in range(5)} == {200}
