"""Web security over every route the app has: headers, caching, methods, CSRF, and a
table-driven access matrix (role × route → status). A new route fails this test until it is
put in the table — nobody adds a page without deciding who may see it."""
from __future__ import annotations

import re

import pytest

from server import municipalities, signals
from server.push import subscriptions as push_subscriptions
from server.web.base import CSP

from .auth_helpers import Device, enrolled, invite
from .conftest import signal_body
from .push_helpers import Device as PushDevice
from .region_helpers import enrolled_region

ROLES = ("anon", "teacher", "receiver", "backup", "director", "other", "operator", "officer")
SCHOOL = ("teacher", "receiver", "backup", "director", "other")
LOGIN = 302  # anonymous → the login page
# Expected status of a GET, per role. "other" is receiver + director of another school;
# "operator" runs the instance (/beheer/), "officer" is the municipality's leerplicht officer.
R = {
    "/": dict.fromkeys(ROLES, 200),
    "/healthz": dict.fromkeys(ROLES, 200),
    "/manifest.json": dict.fromkeys(ROLES, 200),
    "/sw.js": dict.fromkeys(ROLES, 200),
    "/offline": dict.fromkeys(ROLES, 200),
    "/tips": dict.fromkeys(ROLES, 200),
    "/tips/vo": dict.fromkeys(ROLES, 200),
    "/push/key": dict.fromkeys(ROLES, 200),
    "/static/<path:filename>": dict.fromkeys(ROLES, 200),
    "/api/v1/openapi.json": dict.fromkeys(ROLES, 200),
    # The API is for municipality tokens only: a staff session is no credential there.
    "/api/v1/signals": dict.fromkeys(ROLES, 401),
    "/api/v1/signals/<reference>": dict.fromkeys(ROLES, 401),
    "/api/v1/stats": dict.fromkeys(ROLES, 401),
    "/auth/login": dict(dict.fromkeys(ROLES, 302), anon=200),  # logged in → landing page
    "/auth/invite/<token>": dict.fromkeys(ROLES, 200),  # a valid invite link: public by design
    "/auth/passkeys": dict(dict.fromkeys(ROLES, 200), anon=LOGIN),
    "/auth/step-up": dict(dict.fromkeys(ROLES, 200), anon=LOGIN),
    "/me": dict(dict.fromkeys(ROLES, 200), anon=LOGIN),
    "/me/": dict(dict.fromkeys(ROLES, 200), anon=LOGIN),
    "/notes": dict(dict.fromkeys(ROLES, 403), anon=LOGIN, teacher=200),
    "/notes/": dict(dict.fromkeys(ROLES, 403), anon=LOGIN, teacher=200),
    "/notes/<signal_id>/read": dict(dict.fromkeys(ROLES, 403), anon=LOGIN, teacher=303),
    "/notes/<signal_id>/parents": dict(dict.fromkeys(ROLES, 403), anon=LOGIN, teacher=303),
    "/inbox": dict(anon=LOGIN, teacher=403, receiver=200, backup=200, director=403, other=200,
                   operator=403, officer=403),
    "/inbox/": dict(anon=LOGIN, teacher=403, receiver=200, backup=200, director=403, other=200,
                    operator=403, officer=403),
    # A waiting signal of school A at 07:00: the backup may not open it yet (docs/school-rules.md)
    "/inbox/signal/<signal_id>": dict(anon=LOGIN, teacher=403, receiver=200, backup=403,
                                      director=403, other=404, operator=403, officer=403),
    "/inbox/signal/<signal_id>/reveal": dict(anon=LOGIN, teacher=403, receiver=303, backup=303,
                                             director=403, other=303,  # → the confirmation
                                             operator=403, officer=403),
    "/inbox/case/<signal_id>": dict(anon=LOGIN, teacher=403, receiver=302, backup=302,
                                    director=403, other=404,  # not opened yet → confirmation
                                    operator=403, officer=403),
}
# The teacher's phone keys for a note made in the browser (ADR 0013): without a teacher_id, 400.
R["/inbox/case/<signal_id>/note-keys"] = dict(anon=LOGIN, teacher=403, receiver=400, backup=400,
                                              director=403, other=404, operator=403, officer=403)
# Back to a page that answered a POST (issue 12): a GET that only redirects to the case.
for _rule in ("return", "parent-contact", "told"):
    R[f"/inbox/case/<signal_id>/{_rule}"] = dict(anon=LOGIN, teacher=403, receiver=303,
                                                 backup=303, director=403, other=404,
                                                 operator=403, officer=403)
ADMIN_PAGES = ["/admin/", "/admin/audit", "/admin/holidays", "/admin/invite", "/admin/monitoring",
               "/admin/monitoring.csv", "/admin/settings"]
for _page in ADMIN_PAGES:
    R[_page] = dict(anon=LOGIN, teacher=403, receiver=403, backup=403, director=200, other=200,
                    operator=403, officer=403)
R["/admin/staff/<int:staff_id>"] = dict(anon=LOGIN, teacher=403, receiver=403, backup=403,
                                        director=200, other=404,  # school A's teacher
                                        operator=403, officer=403)
for _back in ("/admin/staff/<int:staff_id>/roles", "/admin/staff/<int:staff_id>/reinvite",
              "/admin/staff/<int:staff_id>/details", "/admin/staff/<int:staff_id>/reactivate"):
    R[_back] = dict(anon=LOGIN, teacher=403, receiver=403, backup=403, director=303, other=303,
                    operator=403, officer=403)
# The leerplicht portal: officers only; the operator's pages: operators only.
for _page in ("/gemeente/", "/gemeente/signalen/nieuw", "/gemeente/ontvangstbevestigingen",
              "/gemeente/upload"):
    R[_page] = dict(dict.fromkeys(ROLES, 403), anon=LOGIN, officer=200)
for _page in ("/beheer/", "/beheer/scholen/nieuw", "/beheer/scholen/<int:school_id>",
              "/beheer/gemeenten", "/beheer/cijfers"):
    R[_page] = dict(dict.fromkeys(ROLES, 403), anon=LOGIN, operator=200)
for _back in ("/beheer/scholen/<int:school_id>/directeur", "/beheer/gemeenten/nieuw",
              "/beheer/gemeenten/<int:municipality_id>/token",
              "/beheer/gemeenten/<int:municipality_id>/ambtenaar"):
    R[_back] = dict(dict.fromkeys(ROLES, 403), anon=LOGIN, operator=303)
# Onboarding: the checklist and the documents are always the director's own school (no school
# id in the URL), so another school's director sees their own school's pages.
for _page in ("/admin/start/", "/admin/start/documents/<kind>", "/admin/start/documents/<kind>.txt"):
    R[_page] = dict(anon=LOGIN, teacher=403, receiver=403, backup=403, director=200, other=200,
                    operator=403, officer=403)

# POST routes that are not a form of the staff UI (own rules, tested in their own files).
CSRF_EXEMPT = {"/api/v1/signals"}  # bearer token, no cookie: CSRF does not apply


@pytest.fixture
def world(app, db, clock, school, other_school, token, client, auth):
    people = {
        "anon": Device(app),
        "teacher": enrolled(app, db, clock, school["id"], ("teacher",), "Tom Leraar", "groep 5"),
        "receiver": enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"),
        "backup": enrolled(app, db, clock, school["id"], ("backup",), "Bas Achterwacht"),
        "director": enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur"),
        "other": enrolled(app, db, clock, other_school["id"], ("director", "receiver"),
                          "Olga Anders"),
        "operator": enrolled_region(app, db, clock, "operator", "Bea Beheer"),
        "officer": enrolled_region(app, db, clock, "officer", "Olaf Ambtenaar",
                                   municipalities.authenticate(db, token)["id"]),
    }
    sid = client.post("/api/v1/signals", json=signal_body(), headers=auth).get_json()["id"]
    teacher_id = db.conn.execute("SELECT id FROM staff WHERE display_name='Tom Leraar'").fetchone()[0]
    pending = invite(db, clock, school["id"], ("teacher",), "Nog Niet Begonnen")
    from server import schools
    schools.add_holiday(db, clock.now(), school_id=school["id"], first_day="2026-12-21",
                        last_day="2027-01-01", label="Kerst", actor="test")
    receiver_id = db.conn.execute(
        "SELECT id FROM staff WHERE display_name='Ilse Bedacht'").fetchone()[0]
    sub = push_subscriptions.subscribe(db, receiver_id,
                         PushDevice("https://fcm.googleapis.com/fcm/send/x").subscription(), "",
                         clock.now())
    values = {"signal_id": sid, "staff_id": teacher_id, "token": pending,
              "reference": "REF-1", "filename": "css/app.css",
              "holiday_id": db.conn.execute("SELECT max(id) FROM holidays").fetchone()[0],
              "invite_id": db.conn.execute("SELECT max(id) FROM invites").fetchone()[0],
              "passkey_id": db.conn.execute("SELECT min(id) FROM passkeys").fetchone()[0],
              "sub_id": sub["id"], "kind": "ouders", "item": "team_informed",
              "school_id": school["id"],
              "municipality_id": municipalities.authenticate(db, token)["id"]}
    return people, values


def concrete(rule: str, values: dict) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule)


def get_rules(app):
    return sorted({r.rule for r in app.url_map.iter_rules() if "GET" in r.methods})


def post_rules(app):
    return sorted({r.rule for r in app.url_map.iter_rules() if "POST" in r.methods})


def test_every_get_route_is_in_the_access_matrix(app):
    assert sorted(set(get_rules(app)) - set(R)) == []


def test_access_matrix(world, app):
    people, values = world
    failures = []
    for rule in get_rules(app):
        url = concrete(rule, values)
        for role, want in R[rule].items():
            got = people[role].client.get(url).status_code
            if got != want:
                failures.append(f"{role:8} GET {url}: {got}, expected {want}")
    assert failures == []


def test_security_headers_on_every_route(world, app):
    people, values = world
    for rule in get_rules(app):
        for role in ("anon", "receiver"):
            resp = people[role].client.get(concrete(rule, values))
            h = resp.headers
            assert h["Content-Security-Policy"] == CSP, rule
            assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
            assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
            assert h["Referrer-Policy"] == "no-referrer", rule
            assert h["X-Content-Type-Options"] == "nosniff", rule
            assert "camera=()" in h["Permissions-Policy"], rule
            assert "Strict-Transport-Security" not in h  # plain http only on localhost
            cacheable = rule.startswith("/static/") or rule in (
                "/manifest.json", "/sw.js", "/offline", "/tips", "/tips/vo")
            if not cacheable:
                assert h["Cache-Control"] == "no-store", f"{rule} as {role}: {h['Cache-Control']}"


def test_hsts_outside_localhost(tmp_path, clock):
    from server import create_app
    app = create_app({"data_dir": tmp_path / "d", "testing": True,
                      "base_url": "https://hwc.school.example"}, clock=clock, env={})
    resp = app.test_client().get("/healthz", base_url="https://hwc.school.example")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_state_changing_routes_refuse_get(app, world):
    people, values = world
    gets = set(get_rules(app))
    for rule in post_rules(app):
        if rule in gets:
            continue  # the same URL also has a page (a form and its target)
        resp = people["director"].client.get(concrete(rule, values))
        assert resp.status_code == 405, rule


def test_state_changing_routes_refuse_missing_csrf(app, world, db):
    people, values = world
    dump_before = "\n".join(db.conn.iterdump())
    for rule in post_rules(app):
        if rule in CSRF_EXEMPT:
            continue
        url = concrete(rule, values)
        for role in ("anon", "receiver", "director", "teacher", "operator", "officer"):
            client = people[role].client
            for kwargs in ({"data": {"x": "1"}}, {"json": {"x": "1"}}):
                resp = client.post(url, **kwargs)
                assert resp.status_code == 400, f"{role} POST {url} without CSRF: {resp.status_code}"
    # nothing changed, except session bookkeeping (last_seen) and challenge clean-up
    ignore = ("web_sessions", "webauthn_challenges", "push_jobs")  # push runs in the background
    strip = lambda dump: [l for l in dump.splitlines() if not any(t in l for t in ignore)]
    assert strip("\n".join(db.conn.iterdump())) == strip(dump_before)


def test_wrong_role_with_valid_csrf_is_refused(app, world, db):
    """The CSRF token is not a key: with a valid one, the wrong role still gets 403/404."""
    people, values = world
    sid = values["signal_id"]
    cases = [
        ("teacher", f"/inbox/signal/{sid}/reveal", 403),
        ("director", f"/inbox/signal/{sid}/reveal", 403),
        ("other", f"/inbox/signal/{sid}/reveal", 404),
        ("teacher", f"/inbox/case/{sid}/return", 403),
        ("other", f"/inbox/case/{sid}/return", 404),
        ("receiver", f"/notes/{sid}/read", 403),
        ("teacher", f"/notes/{sid}/read", 404),  # not addressed to this teacher
        ("receiver", "/admin/settings", 403),
        ("other", f"/admin/staff/{values['staff_id']}/deactivate", 404),
        ("teacher", "/admin/invite", 403),
        ("receiver", "/admin/start/items/team_informed", 403),
        ("backup", "/admin/start/items/gmr_agreed", 403),
    ]
    for role, url, want in cases:
        device = people[role]
        resp = device.client.post(url, data={"csrf_token": device.csrf(), "teacher_id": "1"})
        assert resp.status_code == want, f"{role} POST {url}: {resp.status_code}"
    assert signals.get(db, sid)["state"] == "received"
    assert db.conn.execute("SELECT active FROM staff WHERE id = ?",
                           (values["staff_id"],)).fetchone()[0] == 1
    assert db.conn.execute("SELECT count(*) FROM onboarding_ticks").fetchone()[0] == 0


def test_no_personal_data_in_any_url_or_title(world, app, db):
    """Routes carry opaque ids only; no page title ever holds a name."""
    people, values = world
    for rule in get_rules(app) + post_rules(app):
        assert not re.search(r"child|birth|<(?:[a-z]+:)?name>", rule), rule
    resp = people["receiver"].form(f"/inbox/signal/{values['signal_id']}/reveal",
                                   page=f"/inbox/signal/{values['signal_id']}")
    title = re.search(r"<title>(.*?)</title>", resp.get_data(as_text=True)).group(1)
    assert "Sanne" not in title and "Sanne Verzonnen" in resp.get_data(as_text=True)


def test_director_actions_that_let_someone_in_need_a_fresh_passkey(world, db, clock):
    """A stolen director session must not invite itself in as receiver: inviting, re-inviting
    and changing roles need a passkey check of the last 2 minutes."""
    people, values = world
    director = people["director"]
    clock.advance(minutes=3)
    before = db.conn.execute("SELECT count(*) FROM invites").fetchone()[0]
    roles_before = db.conn.execute("SELECT count(*) FROM staff_roles").fetchone()[0]
    for url, data in [("/admin/invite", {"display_name": "Indringer", "roles": "receiver"}),
                      (f"/admin/staff/{values['staff_id']}/reinvite", {}),
                      (f"/admin/staff/{values['staff_id']}/roles",
                       {"roles": ["teacher", "receiver"]})]:
        resp = director.client.post(url, data={"csrf_token": director.csrf(), **data})
        assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"], url
    assert db.conn.execute("SELECT count(*) FROM invites").fetchone()[0] == before
    assert db.conn.execute("SELECT count(*) FROM staff_roles").fetchone()[0] == roles_before
    assert director.step_up().status_code == 200
    resp = director.client.post("/admin/invite", data={
        "csrf_token": director.csrf(), "display_name": "Nieuwe Collega", "roles": "teacher"})
    assert resp.status_code == 200 and "/auth/invite/" in resp.get_data(as_text=True)


def test_a_made_up_bearer_header_buys_no_fresh_login_bucket(app):
    """Login rate limits count per address; an Authorization header must not change that."""
    from server.web.base import limiter
    limiter.reset()
    device = Device(app)
    token = device.csrf()
    codes = [device.client.post("/auth/login/options", json={}, headers={
        "Authorization": f"Bearer made-up-{i}", "X-CSRFToken": token}).status_code
             for i in range(80)]
    assert 429 in codes


def test_region_people_are_refused_on_every_school_post(app, world, db):
    """Operators and officers never touch a signal, a note, a case or a school's staff: every
    state-changing school route answers 403 even with a valid CSRF token, and the portal and
    the operator's pages refuse school staff and each other."""
    people, values = world
    dump_before = "\n".join(db.conn.iterdump())
    school_prefixes = ("/inbox", "/notes", "/admin")
    for rule in post_rules(app):
        url = concrete(rule, values)
        if rule.startswith(school_prefixes):
            who = ("operator", "officer")
        elif rule.startswith("/gemeente"):
            who = SCHOOL + ("operator",)
        elif rule.startswith("/beheer"):
            who = SCHOOL + ("officer",)
        else:
            continue
        for role in who:
            device = people[role]
            resp = device.client.post(url, data={"csrf_token": device.csrf(), "teacher_id": "1",
                                                 "name": "Indringer Test", "school": "12AB"})
            assert resp.status_code == 403, f"{role} POST {url}: {resp.status_code}"
    ignore = ("web_sessions", "webauthn_challenges", "push_jobs")
    strip = lambda dump: [l for l in dump.splitlines() if not any(t in l for t in ignore)]  # noqa: E731
    assert strip("\n".join(db.conn.iterdump())) == strip(dump_before)
    assert signals.get(db, values["signal_id"])["state"] == "received"
