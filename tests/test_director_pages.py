"""The director's pages in plain Dutch (issue 12): who is away until when, Dutch dates, settings
with a line of help each, and monitoring that counts what did not reach a child. Invented names."""
from __future__ import annotations

from server import expiry
from server import schools, signals
from server import staff as staff_mod
from server.clock import parse

from .auth_helpers import enrolled


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_team_page_shows_who_is_away_until_when(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur")
    enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    ilse = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Ilse Bedacht'"
                           ).fetchone()[0]
    staff_mod.set_away(db, clock.now(), ilse, school["id"], parse("2026-11-27T16:00:00Z"))
    page = text(director.client.get("/admin/"))
    assert "afwezig tot 27 november 2026 17:00" in page
    page = text(director.client.get(f"/admin/staff/{ilse}"))
    assert "Afwezig tot 27 november 2026 17:00" in page


def test_dutch_dates_and_settings_help(app, db, clock, school):
    director = enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur")
    schools.add_holiday(db, clock.now(), school_id=school["id"], first_day="2026-12-19",
                        last_day="2027-01-03", label="Kerstvakantie", actor="test")
    page = text(director.client.get("/admin/holidays"))
    assert "19 december 2026 t/m 3 januari 2027" in page and "2026-12-19" not in page
    page = text(director.client.get("/admin/settings"))
    assert "Escalatie: niet geopend om" not in page
    labels = page.count("<label for=")
    helps = page.count('class="muted small"')
    assert labels >= 7 and helps >= labels


def test_monitoring_counts_what_did_not_arrive_and_has_a_phone_list(app, db, clock, school,
                                                                   receive):
    director = enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur")
    sid = receive()
    clock.set(signals.get(db, sid)["expires_at"])
    expiry.sweep(db, clock.now())
    director.login()
    page = text(director.client.get("/admin/monitoring"))
    assert "1 signaal kwam de afgelopen dagen niet aan" in page
    assert "Op tijd geopend, per maand" in page
    assert "november 2026: <strong>0%</strong> geopend vóór schooltijd (0 van 1)" in page
