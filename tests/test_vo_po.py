"""VO as VO works and parent contact as the handbook says (issue 12, seeds 003 and 004 ch. 12).
Names are invented."""
from __future__ import annotations

from server import signals

from .auth_helpers import enrolled
from .conftest import OTHER_BRIN, signal_body
from .test_inbox import pushed, reveal, team  # noqa: F401 - fixtures

NAME, BIRTH = "Sanne Verzonnen", "2017-04-02"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_vo_talk_first_keeps_the_copy_until_the_end_of_the_day_and_the_note_says_the_pupil_agreed(
        app, db, clock, other_school, client):
    from server import jobs, municipalities
    _r, tok = municipalities.add(db, clock.now(), name="Gemeente VO", brins=[OTHER_BRIN])
    zoco = enrolled(app, db, clock, other_school["id"], ("receiver",), "Zara Zorg")
    mentor = enrolled(app, db, clock, other_school["id"], ("teacher",), "Mo Mentor", "3 havo B")
    mo = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Mo Mentor'").fetchone()[0]
    sid = client.post("/api/v1/signals", json=signal_body(school=OTHER_BRIN, name=NAME),
                      headers={"Authorization": f"Bearer {tok}"}).get_json()["id"]
    clock.set("2026-11-23T07:03:00Z")  # 08:03
    zoco.login()
    confirm = text(zoco.client.get(f"/inbox/signal/{sid}"))
    assert "spreek je samen af wie op school het mag weten" in confirm
    assert "meteen de leerkracht te kiezen" not in confirm
    page = text(reveal(zoco, sid))
    assert "Ik spreek de leerling eerst" in page
    resp = zoco.form(f"/inbox/case/{sid}/talk", page=f"/inbox/case/{sid}")
    assert resp.status_code == 302
    assert signals.get(db, sid)["handover_until"] == "2026-11-23T15:30:00Z"  # 16:30 local
    case = text(zoco.client.get(f"/inbox/case/{sid}"))
    assert "Tot 16:30 vandaag kun je hier kiezen" in case and NAME not in case
    # 11:00, after the talk: the sweep has run all morning, the copy is still there.
    clock.set("2026-11-23T10:00:00Z")
    jobs.run_once(app.config["HWC"], clock)
    assert signals.handover_available(db, sid)
    zoco.login()
    resp = zoco.form(f"/inbox/case/{sid}/assign", {"teacher_id": mo, "pupil_agreed": "1"},
                     page=f"/inbox/case/{sid}")
    assert resp.status_code == 302 and signals.get(db, sid)["state"] == "teacher_assigned"
    mentor.login()
    note = text(mentor.form(f"/notes/{sid}/read", page="/notes"))
    assert NAME in note
    assert "De leerling wil dat jij dit weet en weet dat jij het weet" in note
    assert "Van Zara Zorg, zorgcoördinator" in note


def test_vo_talk_copy_dies_at_the_end_of_the_day(app, db, clock, other_school, client):
    from server import jobs, municipalities
    _r, tok = municipalities.add(db, clock.now(), name="Gemeente VO", brins=[OTHER_BRIN])
    zoco = enrolled(app, db, clock, other_school["id"], ("receiver",), "Zara Zorg")
    sid = client.post("/api/v1/signals", json=signal_body(school=OTHER_BRIN, name=NAME),
                      headers={"Authorization": f"Bearer {tok}"}).get_json()["id"]
    reveal(zoco, sid)
    zoco.form(f"/inbox/case/{sid}/talk", page=f"/inbox/case/{sid}")
    clock.set("2026-11-23T15:30:00Z")
    jobs.run_once(app.config["HWC"], clock)
    assert not signals.handover_available(db, sid)


def test_po_teacher_is_asked_about_parents_and_records_it_without_the_name(team, pushed, db,  # noqa: F811
                                                                              clock):
    ib, tom = team["ib"], team["teacher"]
    reveal(ib, pushed)
    teacher_id = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'"
                                 ).fetchone()[0]
    ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": teacher_id},
            page=f"/inbox/case/{pushed}")
    note = text(tom.form(f"/notes/{pushed}/read", page="/notes"))
    assert "Vertel de ouders, als dat veilig en mogelijk is" in note
    assert "Neem geen contact op met de gemeente" in note
    assert "Van Ilse Bedacht, intern begeleider" in note
    listing = text(tom.client.get("/notes"))
    assert "Contact met de ouders" in listing and NAME not in listing
    assert "Niet gedaan: niet veilig" in listing
    tom.form(f"/notes/{pushed}/parents", {"choice": "not_yet"}, page="/notes")
    assert signals.get(db, pushed)["teacher_parent_contact"] == "not_yet"
    clock.advance(minutes=10)
    tom.form(f"/notes/{pushed}/parents", {"choice": "spoken"}, page="/notes")
    row = signals.get(db, pushed)
    assert row["teacher_parent_contact"] == "spoken" and row["state"] == "teacher_read"
    assert "Contact met de ouders" not in text(tom.client.get("/notes"))
    case = text(ib.client.get(f"/inbox/case/{pushed}"))
    assert "Tom Leraar over de ouders: <strong>Ouders gesproken</strong>" in case
    # Another teacher cannot record it.
    other = team["teacher2"]
    assert other.form(f"/notes/{pushed}/parents", {"choice": "spoken"},
                      page="/notes").status_code == 404


def test_nog_niet_keeps_the_case_open(team, pushed, db):  # noqa: F811
    ib = team["ib"]
    reveal(ib, pushed)
    ib.form(f"/inbox/case/{pushed}/in-person", {"how": "self", "already": "1"},
            page=f"/inbox/case/{pushed}")
    resp = ib.form(f"/inbox/case/{pushed}/parent-contact", {"choice": "later"},
                   page=f"/inbox/case/{pushed}")
    assert resp.status_code == 302
    row = signals.get(db, pushed)
    assert row["state"] == "teacher_read" and row["parent_contact"] == "later"
    resp = ib.form(f"/inbox/case/{pushed}/parent-contact", {"choice": "by_me"},
                   page=f"/inbox/case/{pushed}")
    assert signals.get(db, pushed)["state"] == "closed"


def test_the_school_contact_reaches_the_municipality(app, db, clock, school, client, auth):
    """Receipt API and webhook payload carry the optional school_contact (compatible change)."""
    import json

    from server import schools

    from .conftest import give_receiver
    give_receiver(db, clock.now(), school["id"])  # a school where nobody can open refuses
    resp = client.post("/api/v1/signals", json=signal_body(name=NAME, birth_date=BIRTH),
                       headers=auth)
    reference = resp.get_json()["reference"]
    receipt = client.get(f"/api/v1/signals/{reference}", headers=auth).get_json()
    assert "school_contact" not in receipt  # empty: the field is left out, as before
    values = dict(schools.get(db, school["id"]))
    values["receipt_contact"] = "Zorgteam: 050-1234567"
    schools.update_settings(db, clock.now(), school_id=school["id"], values=values, actor="t")
    receipt = client.get(f"/api/v1/signals/{reference}", headers=auth).get_json()
    assert receipt["school_contact"] == "Zorgteam: 050-1234567"
    listed = client.get("/api/v1/signals", headers=auth).get_json()["receipts"]
    assert listed[0]["school_contact"] == "Zorgteam: 050-1234567"
    from server import municipalities
    muni = municipalities.authenticate(db, auth["Authorization"].split()[1])
    db.conn.execute("UPDATE municipalities SET webhook_url = 'https://gemeente.example/hook'"
                    " WHERE id = ?", (muni["id"],))
    sid = signals.get(db, db.conn.execute("SELECT id FROM signals").fetchone()[0])["id"]
    staff_id = db["staff"].insert({"school_id": school["id"], "display_name": "Ilse Bedacht",
                                   "group_name": "", "user_handle": b"x" * 32, "active": 1,
                                   "created_at": "2026-11-23T06:00:00Z"}).last_pk
    signals.reveal(db, clock.now(), sid, staff_id)
    event = db.conn.execute("SELECT receipt FROM receipt_events").fetchone()[0]
    assert json.loads(event)["school_contact"] == "Zorgteam: 050-1234567"


def test_the_directors_log_is_sentences_without_the_child(team, pushed, db, clock, app):  # noqa: F811
    ib, tom, director = team["ib"], team["teacher"], team["director"]
    clock.advance(minutes=3)  # 07:03
    ib.login()
    reveal(ib, pushed)
    teacher_id = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'"
                                 ).fetchone()[0]
    ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": teacher_id},
            page=f"/inbox/case/{pushed}")
    clock.advance(minutes=5)
    tom.login()
    tom.form(f"/notes/{pushed}/read", page="/notes")
    director.login()
    page = text(director.client.get("/admin/audit"))
    assert "Ilse Bedacht opende een signaal (ontvangen 23 nov 07:00) om 07:03" in page
    assert "Ilse Bedacht stuurde het bericht over een signaal (ontvangen 23 nov 07:00) naar " \
           "Tom Leraar om 07:03" in page
    assert "Tom Leraar las het bericht over een signaal (ontvangen 23 nov 07:00) om 07:08" in page
    assert "23 november" in page and "2026-11" not in page
    assert NAME not in page and "Sanne" not in page and BIRTH not in page
    assert "invite.created" not in page and "staff:" not in page
    # Kept as long as receipts: the sweep purges signal lines after receipt_purge_days.
    from server import jobs
    clock.advance(days=31)
    jobs.run_once(app.config["HWC"], clock)
    assert db.conn.execute("SELECT count(*) FROM audit_events WHERE action LIKE 'signal.%'"
                           ).fetchone()[0] == 0


def test_the_note_shows_three_tips_and_the_rest_behind_meer_tips(team, pushed, db):  # noqa: F811
    ib, tom = team["ib"], team["teacher"]
    reveal(ib, pushed)
    teacher_id = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'"
                                 ).fetchone()[0]
    ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": teacher_id},
            page=f"/inbox/case/{pushed}")
    note = text(tom.form(f"/notes/{pushed}/read", page="/notes"))
    shown, more = note.split("<summary>Meer tips")
    assert shown.count("<li><strong>") == 3
    assert more.count("<li><strong>") >= 1
