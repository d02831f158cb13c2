"""Readable at most once per person, for the note too.

- A receiver who is also a teacher read the name twice: at the reveal, then as a note to
  themselves. Now the picker does not offer them and the domain refuses it (409, Dutch page).
- Every reassign restarted the unread deadline, so a note passed on could live far past its
  hard limit. Now its life counts from the FIRST assignment.
All names are invented.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from server import expiry
from server import note_rules, signals, vault
from server.clock import parse
from server.deadlines import Deadlines

from .auth_helpers import Device, enrolled
from .conftest import signal_body


def text(resp) -> str:
    return resp.get_data(as_text=True)


def staff_id(db, name):
    return db.conn.execute("SELECT id FROM staff WHERE display_name = ?", (name,)).fetchone()[0]


def offered(html: str) -> set[int]:
    return {int(v) for v in re.findall(r'name="teacher_id" value="(\d+)"', html)}


@pytest.fixture
def team(app, db, clock, school):
    return {
        # An intern begeleider who also teaches groep 8.
        "ib": enrolled(app, db, clock, school["id"], ("receiver", "teacher"), "Ilse Bedacht",
                       "groep 8"),
        "teacher": enrolled(app, db, clock, school["id"], ("teacher",), "Tom Leraar", "groep 5"),
    }


def reveal(device: Device, signal_id: str):
    return device.form(f"/inbox/signal/{signal_id}/reveal", page=f"/inbox/signal/{signal_id}")


def test_no_note_to_the_person_who_opened_it(team, db, client, auth):
    ib = team["ib"]
    sid = client.post("/api/v1/signals", json=signal_body(), headers=auth).get_json()["id"]
    me, tom = staff_id(db, "Ilse Bedacht"), staff_id(db, "Tom Leraar")
    shown = reveal(ib, sid)
    assert shown.status_code == 200
    assert offered(text(shown)) == {tom}            # the picker does not offer herself
    assert offered(text(ib.client.get(f"/inbox/case/{sid}"))) == {tom}
    # A hand-made (or stale) form is refused in plain Dutch, and nothing changes.
    resp = ib.form(f"/inbox/case/{sid}/assign", {"teacher_id": me}, page=f"/inbox/case/{sid}")
    assert resp.status_code == 409 and "Je weet het al" in text(resp)
    assert "Sanne" not in text(resp)
    row = signals.get(db, sid)
    assert row["state"] == "opened" and row["teacher_id"] is None
    assert vault.has_sealed(db.conn, sid, "handover")
    assert "Er is geen bericht voor je" in text(ib.client.get("/notes"))
    # To Tom it goes; passing it on to herself later is refused too.
    assert ib.form(f"/inbox/case/{sid}/assign", {"teacher_id": tom},
                   page=f"/inbox/case/{sid}").status_code == 302
    resp = ib.form(f"/inbox/case/{sid}/reassign", {"teacher_id": me}, page=f"/inbox/case/{sid}")
    assert resp.status_code == 409 and "Je weet het al" in text(resp)
    assert signals.get(db, sid)["teacher_id"] == tom


def test_domain_refuses_a_note_to_the_opener(db, clock, staff, receive):
    ib = staff(name="Ilse Bedacht", roles=("receiver", "teacher"))
    tom = staff(name="Tom Leraar", roles=("teacher",))
    sid = receive()
    signals.reveal(db, clock.now(), sid, ib)
    with pytest.raises(note_rules.AlreadyKnows):
        signals.assign_teacher(db, clock.now(), sid, ib)
    assert signals.get(db, sid)["state"] == "opened"
    signals.assign_teacher(db, clock.now(), sid, tom)
    with pytest.raises(note_rules.AlreadyKnows):
        signals.reassign_note(db, clock.now(), sid, ib)
    assert signals.get(db, sid)["teacher_id"] == tom


def test_reassigning_never_extends_a_notes_life(db, clock, staff, receive):
    ib = staff(name="Ilse Bedacht", roles=("receiver",))
    teachers = [staff(name=n, roles=("teacher",)) for n in ("Tom Leraar", "Tess Juf", "Tim Meester")]
    sid = receive()
    signals.reveal(db, clock.now(), sid, ib)
    signals.assign_teacher(db, clock.now(), sid, teachers[0])
    first = signals.get(db, sid)
    assert first["first_assigned_at"] == first["assigned_at"]
    limit = first["expires_at"]
    # Pass it on every day, just before it would expire: the deadline stays where it was.
    for day in range(1, 4):
        clock.advance(days=1)
        expiry.sweep(db, clock.now())
        if signals.get(db, sid)["state"] != "teacher_assigned":
            break
        signals.reassign_note(db, clock.now(), sid, teachers[day % 3])
        row = signals.get(db, sid)
        assert row["expires_at"] == limit and row["first_assigned_at"] == first["assigned_at"]
    while clock.now() <= parse(limit):
        clock.advance(hours=1)
    expiry.sweep(db, clock.now())
    assert signals.get(db, sid)["state"] == "expired"
    assert parse(limit) <= parse(first["assigned_at"]) + Deadlines().note_unread_expiry + \
        timedelta(days=21)


def test_a_note_from_before_the_migration_counts_from_its_last_assignment(db, clock, staff,
                                                                        receive):
    ib = staff(name="Ilse Bedacht", roles=("receiver",))
    tom, tess = staff(name="Tom Leraar", roles=("teacher",)), staff(name="Tess Juf", roles=("teacher",))
    sid = receive()
    signals.reveal(db, clock.now(), sid, ib)
    signals.assign_teacher(db, clock.now(), sid, tom)
    db.conn.execute("UPDATE signals SET first_assigned_at = NULL WHERE id = ?", (sid,))
    limit = signals.get(db, sid)["expires_at"]
    clock.advance(days=1)
    signals.reassign_note(db, clock.now(), sid, tess)
    assert signals.get(db, sid)["expires_at"] == limit
