"""The leerplicht portal (/gemeente/): send by form through the one intake, check step, step-up,
receipts without a name, isolation between municipalities. All names are invented."""
from __future__ import annotations

import re

import pytest

from server import municipalities, portal, submissions
from server import staff as staff_mod

from .auth_helpers import Device, enrolled
from .conftest import BRIN, OTHER_BRIN
from .region_helpers import csrf_of, enrolled_region, hidden_fields

NAME = "Floor Verzonnen"
NAME2 = "Jip Verzonnen"


@pytest.fixture
def officer(app, db, clock, school, municipality):
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")  # the school is ready
    return enrolled_region(app, db, clock, "officer", "Olaf Ambtenaar", municipality["id"])


def check(device: Device, rows: list[dict]):
    html = device.client.get("/gemeente/signalen/nieuw").get_data(as_text=True)
    data = {"csrf_token": csrf_of(html)}
    for key in ("school", "name", "birth_date", "reference"):
        data[key] = [r.get(key, "") for r in rows]
    return device.client.post("/gemeente/signalen/controle", data=data)


def confirm(device: Device, check_resp):
    html = check_resp.get_data(as_text=True)
    data: dict = {"csrf_token": csrf_of(html)}
    for name, value in hidden_fields(html):
        data.setdefault(name, []).append(value)
    return device.client.post("/gemeente/signalen", data=data)


def test_officer_lands_on_the_portal(officer):
    resp = officer.client.get("/auth/login")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/gemeente/")
    assert officer.client.get("/gemeente/").status_code == 200


def test_the_form_offers_only_schools_in_scope(officer, other_school):
    html = officer.client.get("/gemeente/signalen/nieuw").get_data(as_text=True)
    assert BRIN in html and OTHER_BRIN not in html and "Het Baken" not in html


def test_check_then_send_with_a_fresh_passkey(officer, db, clock):
    resp = check(officer, [{"school": BRIN, "name": NAME, "birth_date": "02-04-2017"}])
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Controleer: naam, geboortedatum, school" in html and NAME in html and "02-04-2017" in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 0  # nothing yet
    ref = dict(hidden_fields(html))["reference"]
    assert ref.startswith("HWC-") and "Floor" not in ref  # generated, not from the name
    clock.advance(minutes=5)  # the enrolment's assertion is stale now
    stale = confirm(officer, resp)
    assert stale.status_code == 401 and NAME in stale.get_data(as_text=True)  # data kept in the page
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 0
    assert officer.step_up().status_code == 200
    sent = confirm(officer, resp)
    assert sent.status_code == 201, sent.get_data(as_text=True)
    body = sent.get_data(as_text=True)
    assert NAME not in body and ref in body
    row = db.conn.execute("SELECT reference, state FROM signals").fetchone()
    assert row == (ref, "received")
    # Sessions hold no child data: the check step posted it through, never stored it.
    for (data,) in db.conn.execute("SELECT data FROM web_sessions"):
        assert NAME not in data and "2017-04-02" not in data
    # A double click is an idempotent retry, not a second signal.
    assert confirm(officer, resp).status_code == 201
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 1


def test_two_children_each_to_their_own_school(app, db, clock, officer, other_school, municipality):
    from server import region

    from .conftest import give_receiver
    give_receiver(db, clock.now(), other_school["id"])  # a school where nobody can open refuses
    region.set_scope(db, clock.now(), municipality_id=municipality["id"],
                     school_ids=[other_school["id"], municipalities.school_ids(db, municipality["id"]).pop()],
                     actor="test")
    resp = check(officer, [{"school": BRIN, "name": NAME, "birth_date": "2017-04-02", "reference": "VT-1"},
                           {"school": OTHER_BRIN, "name": NAME2, "birth_date": "2011-09-30", "reference": "VT-2"}])
    assert resp.status_code == 200
    officer.step_up()
    assert confirm(officer, resp).status_code == 201
    got = sorted(db.conn.execute("SELECT reference, school_id FROM signals").fetchall())
    assert got == [("VT-1", 1), ("VT-2", other_school["id"])]


def test_dutch_errors_and_nothing_stored(officer, db, other_school):
    resp = check(officer, [{"school": OTHER_BRIN, "name": "R2-D2", "birth_date": "31-02-2017"}])
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Kies een school uit de lijst van uw gemeente." in html
    assert "dd-mm-jjjj" in html and "alleen letters" in html
    # Posting straight to the send route with a school outside the scope changes nothing either.
    resp2 = officer.client.post("/gemeente/signalen", data={
        "csrf_token": csrf_of(html), "school": OTHER_BRIN, "name": NAME,
        "birth_date": "2017-04-02", "reference": "X-1"})
    assert resp2.status_code == 422
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 0


def test_portal_sends_through_submissions_submit(officer, monkeypatch):
    calls = []
    real = submissions.submit

    def spy(db, now, **kw):
        calls.append(kw["municipality_id"])
        return real(db, now, **kw)

    monkeypatch.setattr(submissions, "submit", spy)
    resp = check(officer, [{"school": BRIN, "name": NAME, "birth_date": "2017-04-02"}])
    officer.step_up()
    assert confirm(officer, resp).status_code == 201
    assert len(calls) == 1


@pytest.mark.parametrize("text,iso", [("31-01-2017", "2017-01-31"), ("2017-01-31", "2017-01-31"),
                                      ("1-2-2017", "2017-02-01"), ("31/01/2017", "2017-01-31"),
                                      ("31-02-2017", None), ("2017-31-01", None), ("", None)])
def test_birth_dates(text, iso):
    assert portal.iso_birth_date(text) == iso


def test_receipts_show_status_in_dutch_without_a_name(officer, db, clock, app):
    resp = check(officer, [{"school": BRIN, "name": NAME, "birth_date": "2017-04-02", "reference": "VT-9"},
                           {"school": BRIN, "name": NAME2, "birth_date": "2015-04-02", "reference": "VT-10"}])
    officer.step_up()
    confirm(officer, resp)
    sid = db.conn.execute("SELECT id FROM signals WHERE reference = 'VT-10'").fetchone()[0]
    db.conn.execute("UPDATE signals SET state = 'returned' WHERE id = ?", (sid,))
    html = officer.client.get("/gemeente/ontvangstbevestigingen").get_data(as_text=True)
    assert "VT-9" in html and "ontvangen" in html
    assert "teruggestuurd — niet onze leerling" in html and "Actie nodig" in html
    assert html.index("VT-10") < html.index("VT-9")  # returned on top
    assert NAME not in html and NAME2 not in html
    assert "2017-04-02" not in html and "02-04-2017" not in html
    assert "kan dit portaal het kind niet meer tonen" in html


def test_officer_of_a_sees_nothing_of_b(app, db, clock, officer, other_school):
    _m, _tok = municipalities.add(db, clock.now(), name="Gemeente Anderdorp", brins=[OTHER_BRIN])
    b = municipalities.authenticate(db, _tok)
    enrolled(app, db, clock, other_school["id"], ("receiver",), "Rik Ontvanger")
    officer_b = enrolled_region(app, db, clock, "officer", "Bo Ambtenaar", b["id"])
    resp = check(officer_b, [{"school": OTHER_BRIN, "name": NAME2, "birth_date": "2011-09-30", "reference": "B-1"}])
    officer_b.step_up()
    assert confirm(officer_b, resp).status_code == 201
    resp = check(officer, [{"school": BRIN, "name": NAME, "birth_date": "2017-04-02", "reference": "A-1"}])
    officer.step_up()
    assert confirm(officer, resp).status_code == 201
    a_html = officer.client.get("/gemeente/ontvangstbevestigingen").get_data(as_text=True)
    b_html = officer_b.client.get("/gemeente/ontvangstbevestigingen").get_data(as_text=True)
    assert "A-1" in a_html and "B-1" not in a_html and "Het Baken" not in a_html
    assert "B-1" in b_html and "A-1" not in b_html and "Kastanje" not in b_html
    # B cannot send to A's school by posting the BRIN by hand.
    html = officer_b.client.get("/gemeente/signalen/nieuw").get_data(as_text=True)
    officer_b.step_up()
    resp = officer_b.client.post("/gemeente/signalen", data={
        "csrf_token": csrf_of(html), "school": BRIN, "name": NAME, "birth_date": "2017-04-02",
        "reference": "B-2"})
    assert resp.status_code == 422
    assert db.conn.execute("SELECT count(*) FROM signals WHERE reference = 'B-2'").fetchone()[0] == 0


def test_officer_cannot_reach_school_pages_and_staff_cannot_reach_the_portal(app, db, clock, officer, school):
    for path in ("/inbox", "/notes", "/admin/", "/admin/settings", "/beheer/"):
        assert officer.client.get(path).status_code == 403, path
    director = enrolled(app, db, clock, school["id"], ("director", "receiver"), "Dirk Directeur")
    for path in ("/gemeente/", "/gemeente/signalen/nieuw", "/gemeente/ontvangstbevestigingen"):
        assert director.client.get(path).status_code == 403, path
    assert Device(app).client.get("/gemeente/").status_code == 302


def test_cli_style_invite_needs_a_municipality(db, clock):
    from server import region
    with pytest.raises(staff_mod.StaffError):
        region.create_invite(db, clock.now(), role="officer", display_name="X Y", actor="t")


def upload(device: Device, content: bytes, filename="vt.csv"):
    import io
    html = device.client.get("/gemeente/upload").get_data(as_text=True)
    return device.client.post("/gemeente/upload", data={
        "csrf_token": csrf_of(html), "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data")


def test_csv_upload_preview_then_send_only_valid_rows(officer, db, other_school):
    csv_text = ("\ufeffNaam;Geboortedatum;School;Kenmerk\r\n"
                f"{NAME};02-04-2017;{BRIN};CSV-1\r\n"
                f"Kees Geweigerd;31-02-2017;{BRIN};CSV-2\r\n"
                f"{NAME2};2011-09-30;{OTHER_BRIN};CSV-3\r\n"
                "te;weinig\r\n"
                f"Lot Verzonnen;01-05-2016;{BRIN};\r\n")
    resp = upload(officer, csv_text.encode("utf-8"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert NAME in html and "Lot Verzonnen" in html  # the rows to check
    assert "Regel 3:" in html and "dd-mm-jjjj" in html and "Kees" not in html  # refused: no values
    assert "Regel 4:" in html and "Kies een school uit de lijst" in html and NAME2 not in html
    assert "Regel 5:" in html and "vier kolommen" in html
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 0
    officer.step_up()
    sent = confirm(officer, resp)
    assert sent.status_code == 201
    refs = sorted(r[0] for r in db.conn.execute("SELECT reference FROM signals"))
    assert refs[0] == "CSV-1" and refs[1].startswith("HWC-") and len(refs) == 2


def test_csv_upload_errors_in_dutch(officer, db):
    resp = upload(officer, b"naam,geboortedatum,school,kenmerk,bsn\nA,01-01-2017,12AB,R,1\n")
    assert resp.status_code == 422 and "precies de kolommen" in resp.get_data(as_text=True)
    resp = upload(officer, b"")
    assert resp.status_code == 422
    too_big = b"naam;geboortedatum;school;kenmerk\n" + b"x" * (200 * 1024)
    assert upload(officer, too_big).status_code == 413
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 0


def test_csv_upload_needs_csrf(officer):
    import io
    resp = officer.client.post("/gemeente/upload", data={"file": (io.BytesIO(b"x"), "a.csv")},
                               content_type="multipart/form-data")
    assert resp.status_code == 400


def test_sending_the_same_form_again_is_a_retry_not_a_second_signal(officer, db):
    """Review: Back after sending, then the browser re-posts the form: with a new random
    reference each time the school would get the same child twice. The reference of an empty
    kenmerk is fixed by the form (opened once), so the second send is an idempotent retry."""
    html = officer.client.get("/gemeente/signalen/nieuw").get_data(as_text=True)
    form_id = re.search(r'name="form_id" value="([0-9a-f]{16})"', html).group(1)
    data = {"csrf_token": csrf_of(html), "form_id": form_id, "school": [BRIN], "name": [NAME],
            "birth_date": ["02-04-2017"], "reference": [""]}
    first = officer.client.post("/gemeente/signalen/controle", data=data)
    again = officer.client.post("/gemeente/signalen/controle", data=data)
    officer.step_up()
    assert confirm(officer, first).status_code == 201
    assert confirm(officer, again).status_code == 201  # the same signal, answered again
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 1
    # Another form (opened anew) is another send.
    other = check(officer, [{"school": BRIN, "name": NAME2, "birth_date": "2011-09-30"}])
    assert confirm(officer, other).status_code == 201
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 2
