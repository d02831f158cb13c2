"""The inbox stays small however many signals wait (issue 14): the oldest 25 with the total,
and 'volgende' pages (a GET that changes nothing) whose numbers continue."""
from __future__ import annotations

from datetime import timedelta

from server import inbox_view
from server.clock import iso

from .test_inbox import team, text  # noqa: F401  (the inbox's fixtures)


def _waiting(db, clock, school_id, municipality_id, count):
    db["signals"].insert_all({
        "id": f"w{i:04d}", "school_id": school_id, "municipality_id": municipality_id,
        "reference": f"W-{i}", "state": "received",
        "received_at": iso(clock.now() + timedelta(seconds=i)),
        "updated_at": iso(clock.now())} for i in range(count))


def test_a_thousand_waiting_signals_make_a_small_page_with_the_total(team, db, clock, school,  # noqa: F811
                                                                    municipality):
    _waiting(db, clock, school["id"], municipality["id"], 1000)
    clock.advance(minutes=10)  # within the session's idle time
    ib = team["ib"]
    resp = ib.client.get("/inbox")
    page = text(resp)
    assert resp.status_code == 200
    assert len(resp.get_data()) <= 30_000
    assert "Nieuwe signalen (1000)" in page
    assert "1. Nieuw signaal" in page and "25. Nieuw signaal" in page
    assert "26. Nieuw signaal" not in page
    assert "/inbox/signal/w0000" in page and "/inbox/signal/w0025" not in page
    assert "pagina=2" in page and "volgende" in page and "Er staat niets" not in page

    second = ib.client.get("/inbox?pagina=2")
    two = text(second)
    assert second.status_code == 200 and len(second.get_data()) <= 30_000
    assert "26. Nieuw signaal" in two and "50. Nieuw signaal" in two
    assert "/inbox/signal/w0025" in two and "/inbox/signal/w0000" not in two
    assert "Nieuwe signalen (1000)" in two and "pagina=1" in two

    last = text(ib.client.get("/inbox?pagina=40"))
    assert "1000. Nieuw signaal" in last and "volgende" not in last
    # Nonsense or too far clamps to a real page; nothing changed by looking.
    assert "1000. Nieuw signaal" in text(ib.client.get("/inbox?pagina=999"))
    assert "1. Nieuw signaal" in text(ib.client.get("/inbox?pagina=abc"))
    assert db.conn.execute("SELECT count(*) FROM signals WHERE state = 'received'"
                           ).fetchone()[0] == 1000


def test_paging_keeps_numbers_and_badges(db, clock, school, municipality):
    _waiting(db, clock, school["id"], municipality["id"], 30)
    clock.advance(hours=4)  # 11:00: escalated, director told, school begun
    view = inbox_view.view(db, school["id"], clock.now(), page=2)
    assert [w["number"] for w in view["waiting"]] == list(range(26, 31))
    assert view["waiting_total"] == 30 and view["pages"] == 2
    assert all(w["late"] and w["escalated"] and w["to_director"] for w in view["waiting"])


def _settings(db, school, start_time: str) -> dict:
    from server import escalation, schools
    current = {**escalation.DEFAULTS, "type": "po",
               **{k: v for k, v in schools.get(db, school["id"]).items() if v is not None}}
    return {**current, "start_time": start_time}


def test_the_marks_follow_a_changed_calendar_between_views(db, clock, school, municipality):
    """The inbox remembers the time rules' answers between views (issue 14): a holiday or a
    later school start added after a view must still change the marks at the next view."""
    clock.set("2026-11-30T06:00:00Z")  # Monday 07:00
    from server import schools
    _waiting(db, clock, school["id"], municipality["id"], 1)
    clock.set("2026-11-30T07:45:00Z")  # 08:45: past the 08:30 start
    assert inbox_view.view(db, school["id"], clock.now())["waiting"][0]["late"] is True
    schools.update_settings(db, clock.now(), school_id=school["id"],
                            values=_settings(db, school, "09:00"), actor="test")
    assert inbox_view.view(db, school["id"], clock.now())["waiting"][0]["late"] is False
    schools.update_settings(db, clock.now(), school_id=school["id"],
                            values=_settings(db, school, "08:30"), actor="test")
    assert inbox_view.view(db, school["id"], clock.now())["waiting"][0]["late"] is True
    schools.add_holiday(db, clock.now(), school_id=school["id"], first_day="2026-11-30",
                        last_day="2026-12-04", label="Studieweek", actor="test")
    assert inbox_view.view(db, school["id"], clock.now())["waiting"][0]["late"] is False
