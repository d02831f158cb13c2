"""'Ik vertel het zelf' is a task, not a receipt (issue 12): the receipt's teacher_informed_at is
the moment of the 'Verteld' tap, the inbox shows the task, and a reminder follows if the tap does
not come by the promised school start. Names are invented."""
from __future__ import annotations

import pytest

from server import receipts, signals
from server.push import plan as push_plan
from server.push import subscriptions as push_subscriptions

from .auth_helpers import enrolled
from .conftest import signal_body
from .push_helpers import Device

NAME, BIRTH = "Sanne Verzonnen", "2017-04-02"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def staff_id(db, name):
    return db.conn.execute("SELECT id FROM staff WHERE display_name = ?", (name,)).fetchone()[0]


@pytest.fixture
def team(app, db, clock, school):
    return {"ib": enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht"),
            "teacher": enrolled(app, db, clock, school["id"], ("teacher",), "Bram Hoekstra",
                                "groep 6")}


@pytest.fixture
def pushed(client, auth):
    resp = client.post("/api/v1/signals", json=signal_body(name=NAME, birth_date=BIRTH),
                       headers=auth)
    return resp.get_json()["id"]


def tell_myself(team, db, clock, sid):
    ib = team["ib"]
    clock.advance(minutes=63)  # 08:03
    ib.login()
    ib.form(f"/inbox/signal/{sid}/reveal", page=f"/inbox/signal/{sid}")
    return ib.form(f"/inbox/case/{sid}/in-person",
                   {"how": "self", "teacher_id": staff_id(db, "Bram Hoekstra")},
                   page=f"/inbox/case/{sid}")


def test_receipt_time_is_the_verteld_tap(team, pushed, db, clock, client, auth):
    ib = team["ib"]
    resp = tell_myself(team, db, clock, pushed)
    assert resp.status_code == 302
    row = signals.get(db, pushed)
    assert row["teacher_informed_at"] is None and receipts.public_status(row) == "opened"
    case = text(ib.client.get(f"/inbox/case/{pushed}"))
    assert "Vertel het vóór 08:30 aan Bram Hoekstra" in case and NAME not in case
    inbox = text(ib.client.get("/inbox"))
    assert "Vertel het vóór 08:30 aan Bram Hoekstra" in inbox and NAME not in inbox
    clock.advance(minutes=17)  # 08:20: told in the corridor, then tapped
    ib.login()  # an idle session ends: the tap comes from a fresh one
    resp = ib.form(f"/inbox/case/{pushed}/told", page=f"/inbox/case/{pushed}")
    assert resp.status_code == 302
    row = signals.get(db, pushed)
    assert row["teacher_informed_at"] == "2026-11-23T07:20:00Z"
    receipt = client.get(f"/api/v1/signals/{row['reference']}", headers=auth).get_json()
    assert receipt["status"] == "teacher_informed"
    assert receipt["teacher_informed_at"] == "2026-11-23T07:20:00Z"
    # A second tap changes nothing.
    clock.advance(minutes=5)
    ib.form(f"/inbox/case/{pushed}/told", page=f"/inbox/case/{pushed}")
    assert signals.get(db, pushed)["teacher_informed_at"] == "2026-11-23T07:20:00Z"


def test_no_tap_by_school_start_brings_a_reminder(team, pushed, db, clock):
    ib = team["ib"]
    device = Device("http://127.0.0.1:9/push/ilse")
    push_subscriptions.subscribe(db, staff_id(db, "Ilse Bedacht"), device.subscription(), "ilse",
                                 clock.now(), allow_local=True)
    tell_myself(team, db, clock, pushed)
    push_plan.plan(db, clock.advance(minutes=26))  # 08:29
    events = [r["event"] for r in db.query("SELECT event FROM push_jobs")]
    assert "told_reminder" not in events
    push_plan.plan(db, clock.advance(minutes=1))  # 08:30
    events = [r["event"] for r in db.query("SELECT event FROM push_jobs")]
    assert "told_reminder" in events
    ib.login()
    inbox = text(ib.client.get("/inbox"))
    assert "Te laat" in inbox


def test_already_told_records_the_tap_at_once(team, pushed, db, clock):
    """The case page's 'Ik heb het zelf verteld' (handover gone) is the claim and the tap."""
    ib = team["ib"]
    clock.advance(minutes=63)
    ib.login()
    ib.form(f"/inbox/signal/{pushed}/reveal", page=f"/inbox/signal/{pushed}")
    ib.form(f"/inbox/case/{pushed}/in-person", {"how": "self", "already": "1"},
            page=f"/inbox/case/{pushed}")
    assert signals.get(db, pushed)["teacher_informed_at"] == "2026-11-23T07:03:00Z"
