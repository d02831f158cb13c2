"""The director's pages: role checks on every route, cross-school isolation, invites, settings,
holidays, the receiver/backup rules, audit events and the CLI invite."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .auth_helpers import Device, enrolled, invite
from server import schools
from server import staff as staff_mod

ROOT = Path(__file__).resolve().parent.parent
DUMMY_ARGS = {"staff_id": 1, "passkey_id": 1, "invite_id": 1, "holiday_id": 1, "token": "x" * 43}


def admin_routes(app):
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            url = rule.build({k: DUMMY_ARGS[k] for k in rule.arguments}, append_unknown=False)[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                out.append((method, url))
    return out


@pytest.fixture
def director(app, db, clock, school):
    return enrolled(app, db, clock, school["id"], roles=("director",), name="Dirk Verzonnen")


def test_every_director_route_needs_a_director(app, db, clock, school):
    routes = admin_routes(app)
    assert len(routes) >= 18
    anon = Device(app)
    token = anon.csrf()
    for method, url in routes:
        resp = anon.client.open(url, method=method, headers={"X-CSRFToken": token})
        assert resp.status_code == 302, (method, url)
        assert resp.headers["Location"].startswith("/auth/login"), (method, url)
    for roles in (("teacher",), ("receiver", "backup")):
        person = enrolled(app, db, clock, school["id"], roles=roles, name="Tom " + roles[0])
        token = person.csrf()
        for method, url in routes:
            resp = person.client.open(url, method=method, headers={"X-CSRFToken": token},
                                      data={"display_name": "X", "roles": "director"})
            assert resp.status_code == 403, (roles, method, url)
    assert db.conn.execute("SELECT count(*) FROM staff_roles WHERE role='director'").fetchone()[0] == 0


def test_cross_school_isolation(app, db, clock, school, other_school, director):
    # School B: a person with a passkey, an open invite and a holiday.
    other = enrolled(app, db, clock, other_school["id"], roles=("receiver", "teacher"), name="Olga Anders")
    b_staff = db.conn.execute("SELECT id FROM staff WHERE display_name='Olga Anders'").fetchone()[0]
    b_passkey = staff_mod.passkeys_of(db, b_staff)[0]["id"]
    b_token = invite(db, clock, other_school["id"], name="Bram Anders")
    b_invite = staff_mod.find_invite(db, b_token)["id"]
    b_holiday = schools.add_holiday(db, clock.now(), school_id=other_school["id"], first_day="2026-12-21",
                                      last_day="2027-01-01", label="Kerst", actor="test")
    before = db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]

    assert "Olga" not in director.client.get("/admin/").get_data(as_text=True)
    assert "Bram" not in director.client.get("/admin/").get_data(as_text=True)
    assert director.client.get(f"/admin/staff/{b_staff}").status_code == 404
    token = director.csrf()
    for url, data in [
        (f"/admin/staff/{b_staff}/roles", {"roles": "director"}),
        (f"/admin/staff/{b_staff}/details", {"display_name": "Overgenomen"}),
        (f"/admin/staff/{b_staff}/deactivate", {}),
        (f"/admin/staff/{b_staff}/reactivate", {}),
        (f"/admin/staff/{b_staff}/reinvite", {}),
        (f"/admin/staff/{b_staff}/passkeys/{b_passkey}/revoke", {}),
        (f"/admin/invites/{b_invite}/withdraw", {}),
        (f"/admin/holidays/{b_holiday}/delete", {}),
    ]:
        resp = director.client.post(url, data={"csrf_token": token, **data})
        assert resp.status_code == 404, url
    olga = staff_mod.get(db, b_staff)
    assert olga["display_name"] == "Olga Anders" and olga["active"] == 1
    assert olga["roles"] == {"receiver", "teacher"}
    assert len(staff_mod.passkeys_of(db, b_staff)) == 1
    assert staff_mod.invite_status(staff_mod.find_invite(db, b_token), clock.now()) == "valid"
    assert len(schools.holiday_rows(db, other_school["id"])) == 1
    assert db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == before
    assert other.client.get("/auth/passkeys").status_code == 200  # not logged out


def test_invite_page_shows_link_and_qr_then_withdraw(app, db, clock, school, director):
    resp = director.form("/admin/invite", {"display_name": "Tom Leraar", "group_name": "groep 5",
                                           "roles": ["teacher"]})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    link = re.search(r'value="(http://localhost:8000/auth/invite/[A-Za-z0-9_-]+)"', html).group(1)
    token = link.rsplit("/", 1)[1]
    # The QR code is in the page itself: no URL carries the token (it would reach proxy logs).
    assert "<svg" in html and "<script" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert resp.headers["Cache-Control"] == "no-store"
    assert html.count(token) == 1  # only the shown link
    inv = staff_mod.find_invite(db, token)
    assert inv["roles"] == "teacher" and inv["group_name"] == "groep 5"
    assert "Tom Leraar" in director.client.get("/admin/").get_data(as_text=True)

    resp = director.form(f"/admin/invites/{inv['id']}/withdraw", {"confirmed": "1"},
                         page="/admin/")
    assert resp.status_code == 303
    assert Device(app).client.get(f"/auth/invite/{token}").status_code == 410
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_events ORDER BY id")]
    assert actions[-2:] == ["invite.created", "invite.withdrawn"]


def test_invite_form_refuses_bad_input(app, db, clock, school, director):
    for data in ({"display_name": "", "roles": ["teacher"]}, {"display_name": "Nina", "roles": []},
                 {"display_name": "Nina", "roles": ["admin"]}, {"display_name": "x" * 101, "roles": ["teacher"]}):
        resp = director.form("/admin/invite", data)
        assert resp.status_code == 400, data
    assert db.conn.execute("SELECT count(*) FROM invites").fetchone()[0] == 1


def test_roles_receivers_and_backups(app, db, clock, school, director):
    page = director.client.get("/admin/").get_data(as_text=True)
    assert "nog geen ontvanger" in page and "geen achterwacht" in page
    me = 1
    assert director.form(f"/admin/staff/{me}/roles", {"roles": ["director", "receiver"]},
                         page=f"/admin/staff/{me}").status_code == 303
    assert staff_mod.roles_of(db, me) == {"director", "receiver"}
    page = director.client.get("/admin/").get_data(as_text=True)
    assert "nog geen ontvanger" not in page and "geen achterwacht" in page
    # The last receiver cannot be dropped, nor the last director.
    director.form(f"/admin/staff/{me}/roles", {"roles": ["director"]}, page=f"/admin/staff/{me}")
    assert staff_mod.roles_of(db, me) == {"director", "receiver"}
    director.form(f"/admin/staff/{me}/roles", {"roles": ["receiver"]}, page=f"/admin/staff/{me}")
    assert staff_mod.roles_of(db, me) == {"director", "receiver"}
    page = director.client.get(f"/admin/staff/{me}").get_data(as_text=True)
    assert "minstens één" in page
    bea = enrolled(app, db, clock, school["id"], roles=("backup",), name="Bea Achter")
    assert "geen achterwacht" not in director.client.get("/admin/").get_data(as_text=True)
    assert bea.client.get("/auth/passkeys").status_code == 200
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_events WHERE actor='staff:1'")]
    assert actions.count("staff.roles") == 1


def test_deactivate_and_reactivate(app, db, clock, school, director):
    tom = enrolled(app, db, clock, school["id"], roles=("teacher",), name="Tom Leraar", group="groep 5")
    tid = 2
    assert director.form(f"/admin/staff/{tid}/deactivate", {"confirmed": "1"},
                         page=f"/admin/staff/{tid}").status_code == 303
    assert staff_mod.get(db, tid)["active"] == 0
    assert tom.login().status_code == 401
    director.form(f"/admin/staff/{tid}/reactivate", page=f"/admin/staff/{tid}")
    assert tom.login().status_code == 200
    # A director cannot switch themselves off.
    director.form("/admin/staff/1/deactivate", {"confirmed": "1"}, page="/admin/")
    assert staff_mod.get(db, 1)["active"] == 1
    director.form(f"/admin/staff/{tid}/details", {"display_name": "Tom de Leraar", "group_name": "groep 6"},
                  page=f"/admin/staff/{tid}")
    assert staff_mod.get(db, tid)["group_name"] == "groep 6"
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_events WHERE actor='staff:1' AND action LIKE 'staff.%' ORDER BY id")]
    assert actions == ["staff.deactivated", "staff.reactivated", "staff.details"]


def test_settings(app, db, clock, school, director):
    page = director.client.get("/admin/settings").get_data(as_text=True)
    for default in ("08:30", "08:00", "21:00", "06:30", 'value="30"'):
        assert default in page
    good = {"type": "vo", "start_time": "08:15", "escalation_time": "07:45",
            "escalation_delay_minutes": "20", "quiet_start": "22:00", "quiet_end": "06:00",
            "receipt_contact": "Administratie, 010-1234567"}
    assert director.form("/admin/settings", good).status_code == 303
    row = schools.get(db, school["id"])
    assert (row["type"], row["start_time"], row["escalation_delay_minutes"]) == ("vo", "08:15", 20)
    assert row["receipt_contact"] == "Administratie, 010-1234567"
    event = db.conn.execute("SELECT actor, action, detail, at FROM audit_events ORDER BY id DESC").fetchone()
    assert event[:2] == ("staff:1", "settings.changed") and "start_time" in event[2]
    assert "010" not in event[2] and event[3] == "2026-11-23T06:00:00Z"
    for bad in ({"start_time": "25:00"}, {"escalation_delay_minutes": "0"}, {"type": "hbo"},
                {"quiet_end": "6:30"}, {"escalation_time": "09:00"}, {"escalation_delay_minutes": "abc"}):
        resp = director.form("/admin/settings", {**good, **bad, "start_time": bad.get("start_time", "08:30")})
        assert resp.status_code == 400, bad
    assert schools.get(db, school["id"])["start_time"] == "08:15"


def test_holidays(app, db, clock, school, director):
    resp = director.form("/admin/holidays", {"label": "Kerstvakantie", "first_day": "2026-12-19",
                                             "last_day": "2027-01-03"})
    assert resp.status_code == 303
    hols = schools.holiday_rows(db, school["id"])
    assert [(h["first_day"], h["last_day"]) for h in hols] == [("2026-12-19", "2027-01-03")]
    assert "Kerstvakantie" in director.client.get("/admin/holidays").get_data(as_text=True)
    for bad in ({"first_day": "2027-01-03", "last_day": "2026-12-19"}, {"first_day": "gisteren", "last_day": ""}):
        assert director.form("/admin/holidays", {"label": "x", **bad}).status_code == 400
    assert director.form(f"/admin/holidays/{hols[0]['id']}/delete", page="/admin/holidays").status_code == 303
    assert schools.holiday_rows(db, school["id"]) == []
    # Issue 12: the log is sentences, not codes.
    assert "verwijderde een vakantie" in director.client.get("/admin/audit").get_data(as_text=True)


def test_reinvite_from_admin_for_a_lost_phone(app, db, clock, school, director):
    tom = enrolled(app, db, clock, school["id"], roles=("teacher",), name="Tom Leraar")
    pid = staff_mod.passkeys_of(db, 2)[0]["id"]
    director.form(f"/admin/staff/2/passkeys/{pid}/revoke", {"confirmed": "1"}, page="/admin/staff/2")
    resp = director.form("/admin/staff/2/reinvite", page="/admin/staff/2")
    token = re.search(r"/auth/invite/([A-Za-z0-9_-]+)", resp.get_data(as_text=True)).group(1)
    new_phone = Device(app)
    assert new_phone.enrol(token).status_code == 200
    assert "Er is geen bericht voor je" in new_phone.client.get("/notes").get_data(as_text=True)
    assert tom.login().status_code == 401
    assert db.conn.execute("SELECT count(*) FROM staff").fetchone()[0] == 2


def cli(*args, env_extra=None):
    import os
    env = {**os.environ, "HWC_BASE_URL": "http://localhost:8765", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_invite_prints_link_and_qr_and_the_link_works(tmp_path, clock):
    data = str(tmp_path / "cli")
    assert cli("--data-dir", data, "init").returncode == 0
    assert cli("--data-dir", data, "school", "add", "--brin", "12AB", "--name", "OBS De Kastanje").returncode == 0
    out = cli("--data-dir", data, "invite", "--school", "12ab", "--role", "director", "--role",
              "receiver", "--name", "Dirk Verzonnen")
    assert out.returncode == 0, out.stderr
    link = re.search(r"^(http://localhost:8765/auth/invite/[A-Za-z0-9_-]{43})$", out.stdout, re.M).group(1)
    assert "█" in out.stdout or "▄" in out.stdout  # the terminal QR code
    bad = cli("--data-dir", data, "invite", "--school", "99XX", "--role", "director", "--name", "X")
    assert bad.returncode != 0 and "no school" in bad.stderr and "Traceback" not in bad.stderr

    from server import create_app
    app = create_app({"data_dir": data, "base_url": "http://localhost:8765", "testing": True},
                     clock=clock, env={})
    device = Device(app)
    resp = device.enrol(link.rsplit("/", 1)[1])
    assert resp.status_code == 200 and resp.get_json()["redirect"] == "/admin/"


def test_demo_hook_makes_a_director_invite(db, clock):
    from server import cli as cli_mod
    from server.config import load
    schools.add(db, clock.now(), brin=cli_mod.DEMO_BRIN, name="Demoschool De Vlinder")
    lines = []
    for hook in cli_mod.DEMO_HOOKS:
        lines.extend(hook(db, load({"base_url": "http://localhost:8000"}, env={}), clock.now()) or [])
    link = re.search(r"http://localhost:8000/auth/invite/(\S+)", "\n".join(lines)).group(1)
    inv = staff_mod.find_invite(db, link)
    assert inv and set(inv["roles"].split(",")) >= {"director"}


def test_a_switched_off_person_can_be_deleted_and_housekeeping_forgets_old_things(
        app, db, clock, school):
    from server import staff as staff_mod
    director = enrolled(app, db, clock, school["id"], ("director", "receiver"), "Dirk Directeur")
    enrolled(app, db, clock, school["id"], ("teacher",), "Tom Weg", "groep 3")
    tom = db.conn.execute("SELECT id FROM staff WHERE display_name='Tom Weg'").fetchone()[0]
    page = f"/admin/staff/{tom}"
    resp = director.form(f"/admin/staff/{tom}/delete", {"confirmed": "1"}, page=page)
    assert resp.status_code == 303  # refused: still active
    assert db.conn.execute("SELECT count(*) FROM staff WHERE id = ?", (tom,)).fetchone()[0] == 1
    director.form(f"/admin/staff/{tom}/deactivate", {"confirmed": "1"}, page=page)
    resp = director.form(f"/admin/staff/{tom}/delete", {"confirmed": "1"}, page=page)
    assert resp.status_code == 303
    for table, column in (("staff", "id"), ("staff_roles", "staff_id"),
                          ("passkeys", "staff_id"), ("web_sessions", "staff_id")):
        assert db.conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?",
                               (tom,)).fetchone()[0] == 0, table
    assert "Tom Weg" not in "\n".join(db.conn.iterdump())
    # Housekeeping: invites 30 days after use, audit events after a year.
    clock.advance(days=31)
    assert staff_mod.housekeeping(db, clock.now())["invites_purged"] == 1  # the director's
    clock.advance(days=365)
    assert staff_mod.housekeeping(db, clock.now())["audit_events_purged"] >= 1


def test_the_team_page_warns_when_no_director_can_be_pushed(app, db, clock, school, director):
    """Review: the director escalation is a push; a director without a device never hears it."""
    from server.push import subscriptions as push_subscriptions

    from .push_helpers import Device as PushDevice
    assert any("Geen directeur heeft meldingen aan" in w
               for w in staff_mod.warnings(db, school["id"]))
    assert "Geen directeur heeft meldingen aan" in director.client.get("/admin/").get_data(
        as_text=True)
    me = db.conn.execute("SELECT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id"
                         " AND r.role = 'director' WHERE s.school_id = ?",
                         (school["id"],)).fetchone()[0]
    push_subscriptions.subscribe(db, me, PushDevice(
        "https://fcm.googleapis.com/fcm/send/director").subscription(), "", clock.now())
    assert not any("Geen directeur" in w for w in staff_mod.warnings(db, school["id"]))
