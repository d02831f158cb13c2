"""Every director change that decides who receives a child's name needs a fresh passkey.

A stale director session could rename a colleague "Tom Leraar — groep 5" (the receiver then
sends the next note to the wrong person) or switch a departed receiver back on, while roles and
invites already needed a passkey check of the last 2 minutes. All names are invented.
"""
from __future__ import annotations

import pytest

from server import staff as staff_mod

from .auth_helpers import enrolled


@pytest.fixture
def director(app, db, clock, school):
    return enrolled(app, db, clock, school["id"], ("director",), "Dirk Directeur")


@pytest.fixture
def tom(app, db, clock, school):
    enrolled(app, db, clock, school["id"], ("teacher",), "Tom Leraar", "groep 5")
    return db.conn.execute("SELECT id FROM staff WHERE display_name = 'Tom Leraar'").fetchone()[0]


def post(device, url, data):
    return device.client.post(url, data={"csrf_token": device.csrf(), **data})


def test_renaming_or_regrouping_needs_a_fresh_passkey(director, tom, db, clock):
    clock.advance(minutes=3)  # the enrolment's assertion is stale now
    url = f"/admin/staff/{tom}/details"
    resp = post(director, url, {"display_name": "Indringer", "group_name": "groep 5"})
    assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"]
    assert "next=" in resp.headers["Location"]
    person = staff_mod.get(db, tom)
    assert (person["display_name"], person["group_name"]) == ("Tom Leraar", "groep 5")
    # The step-up page sends the browser back with a GET: it lands on the person's page.
    back = director.client.get(url)
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/admin/staff/{tom}")
    assert staff_mod.get(db, tom)["display_name"] == "Tom Leraar"
    assert director.step_up().status_code == 200
    resp = post(director, url, {"display_name": "Tom de Leraar", "group_name": "groep 6"})
    assert resp.status_code == 303 and "/auth/step-up" not in resp.headers["Location"]
    person = staff_mod.get(db, tom)
    assert (person["display_name"], person["group_name"]) == ("Tom de Leraar", "groep 6")


def test_reactivating_needs_a_fresh_passkey(director, tom, db, clock):
    assert post(director, f"/admin/staff/{tom}/deactivate", {"confirmed": "1"}).status_code == 303
    assert staff_mod.get(db, tom)["active"] == 0
    clock.advance(minutes=3)
    resp = post(director, f"/admin/staff/{tom}/reactivate", {})
    assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"]
    assert staff_mod.get(db, tom)["active"] == 0
    assert director.step_up().status_code == 200
    post(director, f"/admin/staff/{tom}/reactivate", {})
    assert staff_mod.get(db, tom)["active"] == 1


def test_taking_access_away_stays_one_step(director, tom, db, clock):
    """Switching someone off must stay fast (a lost phone): no step-up for that — only the
    confirmation every irreversible action has (issue 12), which needs no passkey."""
    clock.advance(minutes=3)
    resp = post(director, f"/admin/staff/{tom}/deactivate", {})
    assert resp.status_code == 200 and staff_mod.get(db, tom)["active"] == 1  # asks first
    assert post(director, f"/admin/staff/{tom}/deactivate", {"confirmed": "1"}).status_code == 303
    assert staff_mod.get(db, tom)["active"] == 0


def test_the_detail_page_asks_for_the_passkey_on_those_buttons(director, tom, db, clock):
    clock.advance(minutes=3)
    html = director.client.get(f"/admin/staff/{tom}").get_data(as_text=True)
    assert 'data-then-submit="details-form"' in html
    post(director, f"/admin/staff/{tom}/deactivate", {"confirmed": "1"})
    html = director.client.get(f"/admin/staff/{tom}").get_data(as_text=True)
    assert 'data-then-submit="active-form"' in html


def test_escalation_settings_need_a_fresh_passkey(director, db, clock, school):
    """The escalation time is when a backup may open an unopened signal: who sees a name."""
    from server import schools
    good = {"type": "po", "start_time": "08:30", "escalation_time": "06:00",
            "escalation_delay_minutes": "30", "quiet_start": "21:00", "quiet_end": "06:30"}
    clock.advance(minutes=3)
    resp = post(director, "/admin/settings", good)
    assert resp.status_code == 303 and "/auth/step-up" in resp.headers["Location"]
    assert schools.get(db, school["id"])["escalation_time"] == "08:00"
    assert director.client.get("/admin/settings").status_code == 200  # where step-up returns
    assert director.step_up().status_code == 200
    assert post(director, "/admin/settings", good).status_code == 303
    assert schools.get(db, school["id"])["escalation_time"] == "06:00"
