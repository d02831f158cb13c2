"""The morning flow through the real routes: inbox, view-once reveal, teacher note, parent
contact, and access rules — every step as a logged-in person with a passkey (software)."""
from __future__ import annotations

import re
import threading

import pytest

from server import inbox_view, signals

from .auth_helpers import Device, enrolled
from .conftest import OTHER_BRIN, signal_body
from .forensics import needles_for, scan

NAME = "Sanne Verzonnen"
BIRTH = "2017-04-02"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def text(resp) -> str:
    return resp.get_data(as_text=True)


def staff_id(db, name):
    return db.conn.execute("SELECT id FROM staff WHERE display_name = ?", (name,)).fetchone()[0]


@pytest.fixture
def team(app, db, clock, school):
    people = {
        "ib": enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"),
        "backup": enrolled(app, db, clock, school["id"], ("backup",), "Bas Achterwacht"),
        "teacher": enrolled(app, db, clock, school["id"], ("teacher",), "Tom Leraar", "groep 5"),
        "teacher2": enrolled(app, db, clock, school["id"], ("teacher",), "Tess Juf", "groep 7"),
        "director": enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur"),
    }
    return people


@pytest.fixture
def pushed(client, auth):
    resp = client.post("/api/v1/signals", json=signal_body(name=NAME, birth_date=BIRTH),
                       headers=auth)
    assert resp.status_code == 201
    return resp.get_json()["id"]


def reveal(device: Device, signal_id: str):
    return device.form(f"/inbox/signal/{signal_id}/reveal", page=f"/inbox/signal/{signal_id}")


def state(db, sid):
    return signals.get(db, sid)["state"]


def test_inbox_lists_without_a_name_and_has_a_calm_empty_state(team, client, auth, clock):
    ib = team["ib"]
    assert "Er staat niets voor je klaar" in text(ib.client.get("/inbox"))
    clock.advance(minutes=12)  # 07:12
    client.post("/api/v1/signals", json=signal_body(name=NAME, birth_date=BIRTH), headers=auth)
    page = text(ib.client.get("/inbox"))
    assert "Nieuw signaal, ontvangen vandaag 07:12" in page
    assert NAME not in page and "Sanne" not in page and BIRTH not in page


def test_get_never_changes_state(team, pushed, db):
    ib = team["ib"]
    for url in (f"/inbox/signal/{pushed}", f"/inbox/signal/{pushed}/reveal",
                f"/inbox/case/{pushed}", "/inbox", f"/inbox/signal/{pushed}"):
        resp = ib.client.get(url)
        assert resp.status_code in (200, 302, 303)
        assert NAME not in text(resp)
    assert state(db, pushed) == "received"
    confirm = text(ib.client.get(f"/inbox/signal/{pushed}"))
    assert "Je kunt dit signaal één keer bekijken" in confirm


def test_reveal_needs_a_fresh_passkey(team, pushed, db, clock):
    ib = team["ib"]
    clock.advance(minutes=3)  # the login assertion is no longer fresh
    resp = reveal(ib, pushed)
    assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"]
    assert state(db, pushed) == "received"
    assert ib.step_up().status_code == 200
    resp = reveal(ib, pushed)
    assert resp.status_code == 200 and NAME in text(resp)


def test_full_po_morning(team, pushed, db, clock, client, auth, data_dir, caplog):
    ib, teacher, teacher2 = team["ib"], team["teacher"], team["teacher2"]
    clock.advance(minutes=46)  # 07:46 — sessions idle for 46 minutes have ended: log in again
    for device in (ib, teacher, teacher2):
        assert device.login().status_code == 200
    resp = reveal(ib, pushed)
    page = text(resp)
    assert resp.status_code == 200
    assert NAME in page and "2 april 2017" in page and "Handle with Care" in page
    assert resp.headers["Cache-Control"] == "no-store"
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert NAME not in title and "Sanne" not in title
    assert "Tom Leraar — groep 5" in page and "Ik vertel het de leerkracht zelf" in page
    assert client.get("/api/v1/signals/REF-1", headers=auth).get_json()["opened_at"] == \
        "2026-11-23T06:46:00Z"
    # A reload (second POST) or second tab shows no name, says who opened it.
    again = reveal(ib, pushed)
    assert again.status_code == 409 and NAME not in text(again)
    assert "al geopend door Ilse Bedacht om 07:46" in text(again)
    # Pick the teacher.
    token = CSRF_RE.search(page).group(1)
    resp = ib.client.post(f"/inbox/case/{pushed}/assign",
                          data={"csrf_token": token, "teacher_id": staff_id(db, "Tom Leraar")})
    assert resp.status_code == 302
    case = text(ib.client.get(resp.headers["Location"]))
    assert "Het bericht staat klaar voor Tom Leraar" in case and NAME not in case
    # The other teacher sees nothing and cannot read it.
    assert "Er is geen bericht voor je" in text(teacher2.client.get("/notes"))
    assert teacher2.form(f"/notes/{pushed}/read", page="/notes").status_code == 404
    # The teacher sees that there is a note, and reads it once.
    notes = text(teacher.client.get("/notes"))
    assert "Er is een bericht voor je" in notes and NAME not in notes
    clock.advance(minutes=19)  # 08:05
    teacher.login(), ib.login()
    note = teacher.form(f"/notes/{pushed}/read", page="/notes")
    assert note.status_code == 200 and note.headers["Cache-Control"] == "no-store"
    assert f"Handle with Care: {NAME}, geboren 2 april 2017" in text(note)
    assert "Vraag niet" in text(note) or "vraag" in text(note).lower()
    again = teacher.client.post(f"/notes/{pushed}/read", data={"csrf_token": teacher.csrf()})
    assert again.status_code == 410 and NAME not in text(again)
    # The receiver's case shows it was read; the municipality's receipt too.
    case = text(ib.client.get(f"/inbox/case/{pushed}"))
    assert "heeft het gelezen om 08:05" in case
    assert client.get("/api/v1/signals/REF-1", headers=auth).get_json()["status"] == \
        "teacher_informed"
    # Parent contact closes the case; the signal is gone everywhere.
    resp = ib.form(f"/inbox/case/{pushed}/parent-contact", {"choice": "by_teacher"},
                   page=f"/inbox/case/{pushed}")
    assert resp.status_code == 200 and "Afgesloten" in text(resp)
    assert ib.client.get(f"/inbox/case/{pushed}").status_code == 410
    assert client.get("/api/v1/signals/REF-1", headers=auth).get_json()["status"] == "closed"
    for device in team.values():
        assert device.login().status_code == 200
        for url in ("/inbox", "/notes", f"/inbox/case/{pushed}", f"/inbox/signal/{pushed}"):
            assert NAME not in text(device.client.get(url))
    db.close()
    assert scan(data_dir, needles_for([NAME], [])) == []
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "Sanne" not in logs and BIRTH not in logs


def test_two_sessions_reveal_at_once_one_name(team, pushed, app, db, clock, school):
    second = enrolled(app, db, clock, school["id"], ("receiver",), "Rik Tweede")
    devices = [team["ib"], second]
    pages = [d.client.get(f"/inbox/signal/{pushed}") for d in devices]
    tokens = [CSRF_RE.search(text(p)).group(1) for p in pages]
    barrier, results = threading.Barrier(2), [None, None]

    def go(i):
        barrier.wait()
        results[i] = devices[i].client.post(f"/inbox/signal/{pushed}/reveal",
                                            data={"csrf_token": tokens[i]})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409]
    assert sum(NAME in text(r) for r in results) == 1
    loser = next(r for r in results if r.status_code == 409)
    assert "Dit signaal is al geopend door" in text(loser)


def test_told_in_person_then_handover_gone(team, pushed, db, clock):
    ib = team["ib"]
    reveal(ib, pushed)
    clock.advance(minutes=31)
    from server import jobs
    jobs.run_once(ib.app.config["HWC"], clock)
    ib.login()
    case = text(ib.client.get(f"/inbox/case/{pushed}"))
    assert "Hoe is de leerkracht geïnformeerd?" in case and NAME not in case
    assert "Tom Leraar" not in case  # no picker any more
    resp = ib.form(f"/inbox/case/{pushed}/in-person", {"how": "self"}, page=f"/inbox/case/{pushed}")
    assert resp.status_code == 302 and state(db, pushed) == "teacher_read"


def test_case_offers_choice_within_handover_without_the_name(team, pushed, db, clock):
    ib = team["ib"]
    reveal(ib, pushed)
    clock.advance(minutes=10)
    case = text(ib.client.get(f"/inbox/case/{pushed}"))
    assert "Tom Leraar" in case and NAME not in case
    resp = ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": staff_id(db, "Tom Leraar")},
                   page=f"/inbox/case/{pushed}")
    assert resp.status_code == 302 and state(db, pushed) == "teacher_assigned"


def test_not_our_pupil_returns_and_explains_the_data_breach(team, pushed, db, client, auth):
    ib = team["ib"]
    reveal(ib, pushed)
    resp = ib.form(f"/inbox/case/{pushed}/return", page=f"/inbox/case/{pushed}")
    assert "Weet je het zeker?" in text(resp) and state(db, pushed) == "opened"  # issue 12
    resp = ib.form(f"/inbox/case/{pushed}/return", {"confirmed": "1"},
                   page=f"/inbox/case/{pushed}")
    assert resp.status_code == 200 and "datalek" in text(resp)
    assert client.get("/api/v1/signals/REF-1", headers=auth).get_json()["status"] == "returned"
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0


def test_vo_flow_pupil_declines(app, db, clock, other_school, client):
    from server import municipalities
    _r, tok = municipalities.add(db, clock.now(), name="Gemeente VO", brins=[OTHER_BRIN])
    zoco = enrolled(app, db, clock, other_school["id"], ("receiver",), "Zara Zorg")
    enrolled(app, db, clock, other_school["id"], ("teacher",), "Mo Mentor", "3 havo B")
    sid = client.post("/api/v1/signals", json=signal_body(school=OTHER_BRIN, name=NAME),
                      headers={"Authorization": f"Bearer {tok}"}).get_json()["id"]
    page = text(reveal(zoco, sid))
    # Issue 12: the VO reveal leads with the talk with the pupil.
    assert "Zoek de leerling aan het begin van de dag op" in page
    assert "Ik spreek de leerling eerst" in page
    assert "De leerling wil niet dat de mentor het weet" in page and "Mo Mentor — 3 havo B" in page
    resp = zoco.form(f"/inbox/case/{sid}/in-person", {"how": "pupil_declined"},
                     page=f"/inbox/case/{sid}")
    assert resp.status_code == 302
    row = signals.get(db, sid)
    assert row["state"] == "teacher_read" and row["teacher_informed_at"] is None
    assert inbox_view.notes_for(db, staff_id(db, "Mo Mentor")) == []


def test_access_rules(team, pushed, app, db, clock, other_school):
    teacher, director, backup = team["teacher"], team["director"], team["backup"]
    assert teacher.client.get("/inbox").status_code == 403
    assert teacher.client.get(f"/inbox/signal/{pushed}").status_code == 403
    assert director.client.get("/inbox").status_code == 403
    assert team["ib"].client.get("/notes").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get(f"/inbox/signal/{pushed}").status_code in (302, 303)
    # Staff of another school: the signal does not exist for them.
    other = enrolled(app, db, clock, other_school["id"], ("receiver",), "Olga Anders")
    assert other.client.get(f"/inbox/signal/{pushed}").status_code == 404
    assert "Nieuw signaal" not in text(other.client.get("/inbox"))
    assert other.form(f"/inbox/signal/{pushed}/reveal", page="/inbox").status_code == 404
    # The backup may not open at 07:00 while the receiver is present …
    assert f"/inbox/signal/{pushed}" not in text(backup.client.get("/inbox"))
    assert backup.client.get(f"/inbox/signal/{pushed}").status_code == 403
    assert backup.form(f"/inbox/signal/{pushed}/reveal", page="/inbox").status_code == 403
    assert state(db, pushed) == "received"
    # … but may once it is unopened at the school's escalation time (08:00) …
    clock.set("2026-11-23T07:00:00Z")
    backup.login()
    assert f"/inbox/signal/{pushed}" in text(backup.client.get("/inbox"))
    assert backup.client.get(f"/inbox/signal/{pushed}").status_code == 200
    resp = backup.form(f"/inbox/signal/{pushed}/reveal", page=f"/inbox/signal/{pushed}")
    assert resp.status_code == 200 and NAME in text(resp)


def test_backup_may_open_when_every_receiver_is_away(team, pushed, db, clock):
    from server.clock import iso
    from datetime import timedelta
    db.conn.execute("UPDATE staff SET away_until = ? WHERE display_name = 'Ilse Bedacht'",
                    (iso(clock.now() + timedelta(days=2)),))
    backup = team["backup"]
    assert backup.client.get(f"/inbox/signal/{pushed}").status_code == 200


def test_html_in_a_name_is_escaped(team, client, auth):
    # The name rules refuse markup characters, so nothing can reach a page unescaped; check
    # that a name with an apostrophe (allowed) is escaped in the HTML.
    resp = client.post("/api/v1/signals", json=signal_body(reference="Q", name="Ot 't Hart"),
                       headers=auth)
    sid = resp.get_json()["id"]
    page = text(reveal(team["ib"], sid))
    assert "Ot &#39;t Hart" in page


def test_reading_a_note_needs_a_fresh_passkey(team, pushed, db, clock):
    """Review I2: a classroom PC left logged in must not burn (or show) the note."""
    ib, teacher = team["ib"], team["teacher"]
    reveal(ib, pushed)
    ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": staff_id(db, "Tom Leraar")},
            page=f"/inbox/case/{pushed}")
    clock.advance(minutes=3)
    resp = teacher.client.post(f"/notes/{pushed}/read", data={"csrf_token": teacher.csrf()})
    assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"]
    assert state(db, pushed) == "teacher_assigned"
    assert teacher.step_up().status_code == 200
    note = teacher.client.post(f"/notes/{pushed}/read", data={"csrf_token": teacher.csrf()})
    assert note.status_code == 200 and NAME in text(note)


def test_note_can_go_to_another_teacher_or_be_withdrawn(team, pushed, db, clock, client, auth):
    """A teacher is ill (or lost access): the receiver sends the note to a colleague or tells
    in person; the first teacher then has nothing to read."""
    ib, tom, tess = team["ib"], team["teacher"], team["teacher2"]
    reveal(ib, pushed)
    ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": staff_id(db, "Tom Leraar")},
            page=f"/inbox/case/{pushed}")
    case = text(ib.client.get(f"/inbox/case/{pushed}"))
    assert "Is Tom Leraar er vandaag niet?" in case and NAME not in case
    resp = ib.form(f"/inbox/case/{pushed}/reassign", {"teacher_id": staff_id(db, "Tess Juf")},
                   page=f"/inbox/case/{pushed}")
    assert resp.status_code == 302
    assert "Er is geen bericht voor je" in text(tom.client.get("/notes"))
    assert tom.form(f"/notes/{pushed}/read", page="/notes").status_code == 404
    assert "Er is een bericht voor je" in text(tess.client.get("/notes"))
    resp = ib.form(f"/inbox/case/{pushed}/withdraw", {"confirmed": "1"},
                   page=f"/inbox/case/{pushed}")
    assert resp.status_code == 302 and state(db, pushed) == "teacher_read"
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0
    assert "Er is geen bericht voor je" in text(tess.client.get("/notes"))
    assert client.get("/api/v1/signals/REF-1", headers=auth).get_json()["status"] == \
        "teacher_informed"


def test_a_log_line_that_cannot_be_written_burns_no_view(team, pushed, db, monkeypatch):
    """The reveal and its line in the director's log are one commit: if the line fails, the
    signal is still waiting (not opened without anyone having seen it)."""
    import sqlite3

    from server import auditlog

    def broken(*_a, **_kw):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(auditlog, "signal_event", broken)
    resp = reveal(team["ib"], pushed)
    assert resp.status_code >= 500 and NAME not in resp.get_data(as_text=True)
    assert state(db, pushed) == "received"
    monkeypatch.undo()
    assert reveal(team["ib"], pushed).status_code == 200


def test_a_case_step_and_its_log_line_are_one_commit(team, pushed, db, monkeypatch):
    """'Niet onze leerling' wipes the signal: if its line in the director's log cannot be
    written, nothing happens (no step without its line, no line without its step)."""
    import sqlite3

    from server import auditlog

    ib = team["ib"]
    assert reveal(ib, pushed).status_code == 200
    lines = db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]

    def broken(*_a, **_kw):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(auditlog, "signal_event", broken)
    url = f"/inbox/case/{pushed}/return"
    assert ib.form(url, {"confirmed": "1"}, page=f"/inbox/case/{pushed}").status_code >= 500
    assert state(db, pushed) == "opened"
    monkeypatch.undo()
    assert ib.form(url, {"confirmed": "1"}, page=f"/inbox/case/{pushed}").status_code == 200
    assert state(db, pushed) == "returned"
    assert db.conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == lines + 1
