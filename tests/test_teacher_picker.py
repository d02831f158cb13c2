"""Teacher pickers in a large school (issue 14): at most `teacher_picker.LIMIT` teachers on the
reveal and case pages, a server-side search (GET ?zoek=) for the others, and the server still
checks a chosen teacher against every active teacher of the school. Names are invented."""
from __future__ import annotations

import os

from server import teacher_picker
from server.clock import iso

from .test_inbox import NAME, pushed, reveal, staff_id, state, team, text  # noqa: F401

LARGE = 500


def _many_teachers(db, clock, school_id):
    for i in range(LARGE - 1):
        sid = db["staff"].insert({
            "school_id": school_id, "display_name": f"Docent Verzonnen {i:03d}",
            "group_name": f"klas {i % 40:02d}", "user_handle": os.urandom(32), "active": 1,
            "created_at": iso(clock.now())}).last_pk
        db["staff_roles"].insert({"staff_id": sid, "role": "teacher"})
    # Sorted last (by group, then name): never among the first LIMIT shown.
    sid = db["staff"].insert({
        "school_id": school_id, "display_name": "Zoë Zoekbaar", "group_name": "zz-laatste",
        "user_handle": os.urandom(32), "active": 1, "created_at": iso(clock.now())}).last_pk
    db["staff_roles"].insert({"staff_id": sid, "role": "teacher"})
    return sid


def test_large_school_pages_stay_small_and_search_finds_the_rest(team, pushed, db, clock,  # noqa: F811
                                                                 school):
    zoe = _many_teachers(db, clock, school["id"])
    ib = team["ib"]
    shown = reveal(ib, pushed)
    page = text(shown)
    assert shown.status_code == 200 and NAME in page  # the one reveal
    assert len(shown.get_data()) < 40_000
    assert page.count('name="teacher_id" value=') <= teacher_picker.LIMIT
    assert "Zoë Zoekbaar" not in page and "Zoek een leerkracht" in page

    case = ib.client.get(f"/inbox/case/{pushed}")
    assert len(case.get_data()) < 40_000 and "Zoë Zoekbaar" not in text(case)
    found = text(ib.client.get(f"/inbox/case/{pushed}?zoek=zoekBAAR"))
    assert f'value="{zoe}"' in found and "1 gevonden" in found and NAME not in found
    assert found.count('name="teacher_id" value=') <= 2  # the picker and 'vertel zelf'
    assert state(db, pushed) == "opened"  # searching changes nothing

    # The server checks against all teachers, not what was shown: a teacher of another school
    # or a made-up id is refused; the one found by the search is accepted.
    assert ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": "999999"},
                   page=f"/inbox/case/{pushed}").status_code == 400
    assert state(db, pushed) == "opened"
    resp = ib.form(f"/inbox/case/{pushed}/assign", {"teacher_id": zoe},
                   page=f"/inbox/case/{pushed}?zoek=Zoekbaar")
    assert resp.status_code == 302 and state(db, pushed) == "teacher_assigned"
    assert db.conn.execute("SELECT teacher_id FROM signals WHERE id = ?",
                           (pushed,)).fetchone()[0] == zoe


def test_small_school_shows_everyone_without_a_search(team, pushed, db):  # noqa: F811
    page = text(reveal(team["ib"], pushed))
    assert "Tom Leraar — groep 5" in page and "Tess Juf — groep 7" in page
    assert "Zoek een leerkracht" not in page


def test_pick_limits_and_searches_name_or_group():
    teachers = [{"id": i, "display_name": f"Naam {i}", "group_name": f"groep {i % 8}"}
                for i in range(100)]
    picked = teacher_picker.pick(teachers)
    assert len(picked["teachers"]) == teacher_picker.LIMIT and picked["large"]
    assert picked["total"] == 100 and picked["found"] == 100
    assert [t["id"] for t in teacher_picker.pick(teachers, "  naam  99 ")["teachers"]] == [99]
    assert len(teacher_picker.pick(teachers, "GROEP 3")["teachers"]) == 13
    assert teacher_picker.pick(teachers, "x" * 500)["search"] == "x" * teacher_picker.MAX_SEARCH
