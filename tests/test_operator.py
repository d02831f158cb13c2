"""The operator (/beheer/): schools, municipalities, scope, tokens, invites, readiness, figures —
and never a signal, a name or a school's staff. All names are invented."""
from __future__ import annotations

import re

import pytest

from server import municipalities, region

from .auth_helpers import Device, enrolled
from .conftest import signal_body
from .region_helpers import csrf_of, enrolled_region


@pytest.fixture
def operator(app, db, clock):
    return enrolled_region(app, db, clock, "operator", "Bea Beheer")


def post(device, page, url, data):
    html = device.client.get(page).get_data(as_text=True)
    return device.client.post(url, data={"csrf_token": csrf_of(html), **data})


def test_operator_lands_on_beheer(operator):
    resp = operator.client.get("/auth/login")
    assert resp.headers["Location"].endswith("/beheer/")


def test_add_and_edit_a_school_with_place(operator, db):
    resp = post(operator, "/beheer/scholen/nieuw", "/beheer/scholen",
                {"brin": "56ef", "name": "OBS De Linde", "type": "po", "place": "Tilburg"})
    assert resp.status_code == 303
    row = db.conn.execute("SELECT id, brin, place FROM schools").fetchone()
    assert row[1:] == ("56EF", "Tilburg")
    bad = post(operator, "/beheer/scholen/nieuw", "/beheer/scholen",
               {"brin": "X", "name": "", "type": "po", "place": ""})
    assert bad.status_code == 422 and "BRIN-code" in bad.get_data(as_text=True)
    resp = post(operator, f"/beheer/scholen/{row[0]}", f"/beheer/scholen/{row[0]}",
                {"brin": "56EF", "name": "OBS De Linde", "type": "vo", "place": "Dongen"})
    assert resp.status_code == 303
    assert db.conn.execute("SELECT type, place FROM schools").fetchone() == ("vo", "Dongen")
    assert "Dongen" in operator.client.get("/beheer/").get_data(as_text=True)


def test_director_invite_needs_step_up_and_is_shown_once(operator, db, clock, school, app):
    clock.advance(minutes=3)
    page = f"/beheer/scholen/{school['id']}"
    resp = post(operator, page, f"{page}/directeur", {"name": "Dirk Directeur"})
    assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"]
    assert db.conn.execute("SELECT count(*) FROM invites WHERE school_id = ?", (school["id"],)).fetchone()[0] == 0
    operator.step_up()
    resp = post(operator, page, f"{page}/directeur", {"name": "Dirk Directeur"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<svg" in html
    link = re.search(r'value="(http[^"]+/auth/invite/[^"]+)"', html).group(1)
    director = Device(app)
    assert director.enrol(link.rsplit("/", 1)[1]).get_json()["redirect"] == "/admin/"


def test_municipality_token_scope_and_revoke(operator, db, clock, app, school, other_school):
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    operator.step_up()
    resp = post(operator, "/beheer/gemeenten", "/beheer/gemeenten/nieuw",
                {"name": "Gemeente Loon", "school": [str(school["id"])]})
    html = resp.get_data(as_text=True)
    token = re.search(r'id="shown-token" readonly value="([^"]+)"', html).group(1)
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.post("/api/v1/signals", json=signal_body(), headers=auth).status_code == 201
    mid = db.conn.execute("SELECT id FROM municipalities WHERE name = 'Gemeente Loon'").fetchone()[0]
    assert municipalities.school_ids(db, mid) == {school["id"]}
    post(operator, "/beheer/gemeenten", f"/beheer/gemeenten/{mid}/scholen",
         {"school": [str(school["id"]), str(other_school["id"])]})
    assert municipalities.school_ids(db, mid) == {school["id"], other_school["id"]}
    post(operator, "/beheer/gemeenten", f"/beheer/gemeenten/{mid}/intrekken", {})
    assert api.post("/api/v1/signals", json=signal_body("REF-2"), headers=auth).status_code == 401
    operator.step_up()
    html = post(operator, "/beheer/gemeenten", f"/beheer/gemeenten/{mid}/token", {}).get_data(as_text=True)
    new = re.search(r'id="shown-token" readonly value="([^"]+)"', html).group(1)
    assert new != token
    assert api.post("/api/v1/signals", json=signal_body("REF-2"),
                    headers={"Authorization": f"Bearer {new}"}).status_code == 201


def test_officer_invite_from_beheer(operator, db, app, municipality):
    operator.step_up()
    resp = post(operator, "/beheer/gemeenten", f"/beheer/gemeenten/{municipality['id']}/ambtenaar",
                {"name": "Olaf Ambtenaar"})
    link = re.search(r'value="(http[^"]+/auth/invite/[^"]+)"', resp.get_data(as_text=True)).group(1)
    officer = Device(app)
    assert officer.enrol(link.rsplit("/", 1)[1]).get_json()["redirect"] == "/gemeente/"
    assert db.conn.execute("SELECT municipality_id, school_id FROM staff WHERE display_name = "
                           "'Olaf Ambtenaar'").fetchone() == (municipality["id"], None)
    assert "Olaf Ambtenaar" in operator.client.get("/beheer/gemeenten").get_data(as_text=True)


def test_readiness_counts_and_never_names_staff(operator, db, clock, app, school, client, auth):
    rows = region.readiness(db, clock.now())
    assert rows[0]["receiver"] == 0 and not rows[0]["ready"]
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    enrolled(app, db, clock, school["id"], ("backup",), "Bas Achterwacht")
    client.post("/api/v1/signals", json=signal_body(name="Sanne Verzonnen"), headers=auth)
    row = region.readiness(db, clock.now())[0]
    assert (row["receiver"], row["backup"], row["devices"]) == (1, 1, 0)
    assert not row["ready"]  # no device for push yet
    # The director's checklist is part of it (receiver and backup are derived items).
    assert row["checklist_total"] == 7 and row["checklist_done"] == 2
    for page in ("/beheer/", "/beheer/gemeenten", "/beheer/cijfers", f"/beheer/scholen/{school['id']}"):
        html = operator.client.get(page).get_data(as_text=True)
        for secret in ("Ilse", "Bas Achterwacht", "Sanne", "Verzonnen", "REF-1"):
            assert secret not in html, (page, secret)


def test_region_figures_suppress_small_cells(db, clock, client, auth, school, app):
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    for i in range(6):
        client.post("/api/v1/signals", json=signal_body(f"R-{i}", birth_date="2016-01-0" + str(i + 1)),
                    headers=auth)
    month = [r for r in region.region_figures(db, "2026-11", "2026-11")][0]
    assert month["received"] == 6 and month["opened"] == "<5"


def test_cli_invites_operator_and_officer(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from server.cli import main
    data = str(tmp_path / "d")
    run = lambda *a: CliRunner().invoke(main, ["--data-dir", data, *a])  # noqa: E731
    assert run("init").exit_code == 0
    out = run("invite", "--role", "operator", "--name", "Bea Beheer", "--no-qr")
    assert out.exit_code == 0, out.output
    assert "/auth/invite/" in out.output
    assert run("invite", "--role", "officer", "--name", "Olaf A", "--no-qr").exit_code == 1
    run("school", "add", "--brin", "12AB", "--name", "OBS Test")
    run("municipality", "add", "--name", "Gemeente Loon", "--school", "12AB")
    out = run("invite", "--municipality", "gemeente loon", "--role", "officer", "--name", "Olaf A")
    assert out.exit_code == 0 and "Gemeente Loon" in out.output and "/auth/invite/" in out.output
    assert run("invite", "--municipality", "Nergens", "--role", "officer", "--name", "X").exit_code == 1


def test_operator_switches_an_officer_off(operator, db, clock, app, municipality):
    officer = enrolled_region(app, db, clock, "officer", "Olaf Ambtenaar", municipality["id"])
    assert officer.client.get("/gemeente/").status_code == 200
    sid = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Olaf Ambtenaar'").fetchone()[0]
    resp = post(operator, "/beheer/gemeenten",
                f"/beheer/gemeenten/{municipality['id']}/ambtenaar/{sid}/uitschakelen", {})
    assert resp.status_code == 303
    assert officer.client.get("/gemeente/").status_code == 302  # logged out everywhere
    assert db.conn.execute("SELECT active FROM staff WHERE id = ?", (sid,)).fetchone()[0] == 0
    # Only officers of that municipality: a school's staff member cannot be switched off here.
    resp = post(operator, "/beheer/gemeenten",
                f"/beheer/gemeenten/{municipality['id'] + 1}/ambtenaar/{sid}/uitschakelen", {})
    assert resp.status_code == 404


def test_an_operator_cannot_become_director_of_a_running_school(operator, db, clock, school, app):
    """Review: an operator who could invite a second director to a school in use could invite
    a receiver next and read a child's name. Only the first director comes from the operator."""
    page = f"/beheer/scholen/{school['id']}"
    operator.step_up()
    assert post(operator, page, f"{page}/directeur", {"name": "Dirk Directeur"}).status_code == 200
    # An open invite: no second one.
    resp = post(operator, page, f"{page}/directeur", {"name": "Bea Beheer"})
    assert resp.status_code == 303
    assert db.conn.execute("SELECT count(*) FROM invites WHERE school_id = ?",
                           (school["id"],)).fetchone()[0] == 1
    # An active director: none either, even after the first invite was used or withdrawn.
    enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur")
    db.conn.execute("UPDATE invites SET withdrawn_at = 'x' WHERE used_at IS NULL")
    operator.step_up()
    resp = post(operator, page, f"{page}/directeur", {"name": "Bea Beheer"})
    assert resp.status_code == 303
    assert "al een directeur" in operator.client.get(page).get_data(as_text=True)
    assert db.conn.execute("SELECT count(*) FROM invites WHERE school_id = ? AND withdrawn_at IS"
                           " NULL AND used_at IS NULL", (school["id"],)).fetchone()[0] == 0


def test_the_brin_of_a_school_in_use_cannot_change(operator, db, clock, school, other_school, app):
    """Review: swapping two schools' BRIN codes would send a child's name to the other school."""
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    page = f"/beheer/scholen/{school['id']}"
    resp = post(operator, page, page, {"brin": "99ZZ", "name": school["name"], "type": "po",
                                       "place": ""})
    assert resp.status_code == 422 and "kunnen niet meer veranderen" in resp.get_data(as_text=True)
    resp = post(operator, page, page, {"brin": school["brin"], "name": school["name"],
                                       "type": "vo", "place": ""})
    assert resp.status_code == 422
    assert db.conn.execute("SELECT brin, type FROM schools WHERE id = ?",
                           (school["id"],)).fetchone() == (school["brin"], "po")
    # The name and place of a school in use may still be corrected.
    resp = post(operator, page, page, {"brin": school["brin"], "name": "OBS De Kastanjeboom",
                                       "type": "po", "place": "Tilburg"})
    assert resp.status_code == 303
