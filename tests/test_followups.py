"""Follow-ups with a fake clock (issue 12): a Friday note reminds the teacher on Monday before
school, an unread note reaches the receiver at school start, an unopened signal reaches the
director an hour after school start, nothing is pushed in quiet hours or holidays, and what
ended without reaching the child leaves a nameless trace in the inbox. Names are invented."""
from __future__ import annotations

import pytest

from server import expiry
from server import schools, signals
from server.clock import parse
from server.push import plan as push_plan
from server.push import subscriptions as push_subscriptions

from .push_helpers import Device

NAME, BIRTH = "Sanne Verzonnen", "2017-04-02"
FRIDAY_0700 = "2026-11-27T06:00:00Z"  # Friday 27 November 2026, 07:00 local
FRIDAY_1006 = "2026-11-27T09:06:00Z"


@pytest.fixture
def people(db, clock, staff):
    people = {"receiver": staff("Ilse Bedacht", ["receiver"]),
              "backup": staff("Bas Achter", ["backup"]),
              "director": staff("Dirk Directeur", ["director"]),
              "teacher": staff("Bram Hoekstra", ["teacher"], "groep 6")}
    for name, staff_id in people.items():
        device = Device(f"http://127.0.0.1:9/push/{name}")
        push_subscriptions.subscribe(db, staff_id, device.subscription(), name, clock.now(),
                                     allow_local=True)
    return people


def jobs(db, event=None):
    rows = db.query("SELECT event, staff_id, due_at FROM push_jobs ORDER BY id")
    return [r for r in rows if event is None or r["event"] == event]


def plan_at(db, clock, stamp):
    clock.set(stamp)
    return push_plan.plan(db, clock.now())


def friday_note(db, clock, receive, people):
    clock.set(FRIDAY_0700)
    sid = receive(name=NAME, birth_date=BIRTH)
    signals.reveal(db, clock.now(), sid, people["receiver"])
    clock.set(FRIDAY_1006)
    signals.assign_teacher(db, clock.now(), sid, people["teacher"])
    return sid


def test_friday_note_reminds_the_teacher_on_monday_before_school(db, clock, receive, people):
    friday_note(db, clock, receive, people)
    plan_at(db, clock, "2026-11-27T09:10:00Z")
    assert [j["event"] for j in jobs(db)] == ["note"]
    for stamp in ("2026-11-28T09:00:00Z",   # Saturday: never
                  "2026-11-29T19:00:00Z",   # Sunday evening: never
                  "2026-11-30T05:00:00Z",   # Monday 06:00: still quiet hours
                  "2026-11-30T06:29:00Z"):  # Monday 07:29
        plan_at(db, clock, stamp)
        assert jobs(db, "note_reminder") == []
    plan_at(db, clock, "2026-11-30T06:30:00Z")  # Monday 07:30, an hour before school
    reminder = jobs(db, "note_reminder")
    assert [(j["staff_id"], j["due_at"]) for j in reminder] == [
        (people["teacher"], "2026-11-30T06:30:00Z")]
    assert jobs(db, "note_unread") == []


def test_unread_at_school_start_reaches_the_receiver_and_marks_the_inbox(
        app, db, clock, receive, people, school):
    from server import inbox_view
    friday_note(db, clock, receive, people)
    plan_at(db, clock, "2026-11-30T07:29:00Z")
    assert jobs(db, "note_unread") == []
    view = inbox_view.view(db, school["id"], clock.now())
    assert view["cases"][0]["unread"] is False
    plan_at(db, clock, "2026-11-30T07:30:00Z")  # Monday 08:30: school starts
    assert [j["staff_id"] for j in jobs(db, "note_unread")] == [people["receiver"]]
    view = inbox_view.view(db, school["id"], clock.now())
    case = view["cases"][0]
    assert case["unread"] is True and case["since"] == "vrijdag 10:06"
    assert case["teacher_name"] == "Bram Hoekstra"


def test_unread_goes_to_the_backup_when_the_receiver_is_away(db, clock, receive, people,
                                                               school):
    from server import staff as staff_mod
    friday_note(db, clock, receive, people)
    staff_mod.set_away(db, clock.now(), people["receiver"], school["id"],
                       parse("2026-12-04T12:00:00Z"))
    plan_at(db, clock, "2026-11-30T07:30:00Z")
    assert [j["staff_id"] for j in jobs(db, "note_unread")] == [people["backup"]]


def test_before_the_hard_deadline_the_receiver_is_asked_to_act(db, clock, receive, people):
    sid = friday_note(db, clock, receive, people)
    # Friday 10:06 + 3 school days: Wednesday 2 December 10:06 (09:06 UTC).
    assert signals.get(db, sid)["expires_at"] == "2026-12-02T09:06:00Z"
    plan_at(db, clock, "2026-12-01T09:05:00Z")  # Tuesday 10:05
    assert jobs(db, "note_deadline") == []
    plan_at(db, clock, "2026-12-01T09:06:00Z")  # Tuesday 10:06: a day before
    assert [j["staff_id"] for j in jobs(db, "note_deadline")] == [people["receiver"]]


def test_unopened_signal_goes_to_the_director_an_hour_after_school_start(db, clock, receive,
                                                                          people):
    clock.set("2026-11-30T06:00:00Z")  # Monday 07:00
    receive(name=NAME, birth_date=BIRTH)
    plan_at(db, clock, "2026-11-30T07:00:00Z")  # 08:00: escalation to the backup
    assert [j["staff_id"] for j in jobs(db, "escalate")] == [people["backup"]]
    plan_at(db, clock, "2026-11-30T08:29:00Z")  # 09:29
    assert jobs(db, "director") == []
    plan_at(db, clock, "2026-11-30T08:30:00Z")  # 09:30: an hour after school start
    assert [j["staff_id"] for j in jobs(db, "director")] == [people["director"]]


def test_opened_signal_never_reaches_the_director(db, clock, receive, people):
    clock.set("2026-11-30T06:00:00Z")
    sid = receive(name=NAME, birth_date=BIRTH)
    signals.reveal(db, clock.now(), sid, people["receiver"])
    plan_at(db, clock, "2026-11-30T10:00:00Z")
    assert jobs(db, "director") == []


def test_no_follow_up_during_a_holiday(db, clock, receive, people, school):
    schools.add_holiday(db, clock.now(), school_id=school["id"], first_day="2026-11-30",
                        last_day="2026-12-04", label="Testvakantie", actor="test")
    friday_note(db, clock, receive, people)
    plan_at(db, clock, "2026-11-30T08:00:00Z")
    assert jobs(db, "note_reminder") == [] and jobs(db, "note_unread") == []
    for day in range(1, 7):
        plan_at(db, clock, f"2026-12-0{day}T08:00:00Z")
        assert jobs(db, "note_reminder") == [] and jobs(db, "note_unread") == []
    plan_at(db, clock, "2026-12-07T06:30:00Z")  # Monday after the holiday, 07:30
    assert [j["due_at"] for j in jobs(db, "note_reminder")] == ["2026-12-07T06:30:00Z"]


def test_unopened_expiry_leaves_a_nameless_trace(app, db, clock, receive, people, school):
    from server import inbox_view
    clock.set("2026-12-01T06:00:00Z")  # Tuesday 1 December
    sid = receive(name=NAME, birth_date=BIRTH)
    clock.set(signals.get(db, sid)["expires_at"])
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 1
    rows = list(db.query("SELECT * FROM school_traces"))
    assert len(rows) == 1 and rows[0]["kind"] == "unopened"
    assert NAME not in repr(rows) and BIRTH not in repr(rows)
    view = inbox_view.view(db, school["id"], clock.now())
    assert [t["day"] for t in view["traces"]] == ["dinsdag 1 december"]
    clock.advance(days=6)
    assert inbox_view.view(db, school["id"], clock.now())["traces"] == []
    from server import traces
    assert traces.purge(db, clock.now())["traces_purged"] == 1


def test_unread_expiry_leaves_a_trace_of_its_own_kind(db, clock, receive, people, school):
    sid = friday_note(db, clock, receive, people)
    clock.set(signals.get(db, sid)["expires_at"])
    assert expiry.sweep(db, clock.now())["expired_unread"] == 1
    assert [r["kind"] for r in db.query("SELECT kind FROM school_traces")] == ["unread"]


def test_a_case_is_announced_before_it_closes_itself(db, clock, receive, people):
    clock.set("2026-11-30T06:00:00Z")
    sid = receive(name=NAME, birth_date=BIRTH)
    signals.reveal(db, clock.now(), sid, people["receiver"])
    plan_at(db, clock, "2026-12-11T06:00:00Z")  # 11 days later
    assert jobs(db, "case_closing") == []
    plan_at(db, clock, "2026-12-12T06:00:00Z")  # Saturday: held
    assert jobs(db, "case_closing") == []
    plan_at(db, clock, "2026-12-14T05:30:00Z")  # Monday 06:30, before the close at 07:00
    assert [j["staff_id"] for j in jobs(db, "case_closing")] == [people["receiver"]]


def test_inbox_page_numbers_marks_and_traces_without_the_child(app, db, clock, school):
    """The page itself: numbered, the school start, the unread mark and a trace, no name."""
    from server import municipalities

    from .auth_helpers import enrolled
    ib = enrolled(app, db, clock, school["id"], ("receiver",), "Ilse Bedacht")
    enrolled(app, db, clock, school["id"], ("teacher",), "Bram Hoekstra", "groep 6")
    teacher = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Bram Hoekstra'"
                              ).fetchone()[0]
    receiver = db.conn.execute("SELECT id FROM staff WHERE display_name = 'Ilse Bedacht'"
                               ).fetchone()[0]
    _row, token = municipalities.add(db, clock.now(), name="Gemeente Elders", brins=["12AB"])
    muni = municipalities.authenticate(db, token)

    def receive(ref):
        row, _ = signals.receive(db, clock.now(), municipality_id=muni["id"],
                                 school_id=school["id"], reference=ref,
                                 child=signals.Child(NAME, BIRTH))
        return row["id"]
    clock.set("2026-11-24T06:00:00Z")  # Tuesday 24 November, 07:00
    receive("OLD")
    clock.set(FRIDAY_0700)
    sid = receive("NOTE")
    signals.reveal(db, clock.now(), sid, receiver)
    clock.set(FRIDAY_1006)
    signals.assign_teacher(db, clock.now(), sid, teacher)
    receive("NEW")
    clock.set("2026-12-01T07:45:00Z")  # Tuesday 1 December 08:45: OLD expired, note unread
    expiry.sweep(db, clock.now())
    ib.login()  # the session from Tuesday has long expired
    page = ib.client.get("/inbox").get_data(as_text=True)
    assert "De school begint om 08:30" in page
    assert "Een signaal van dinsdag 24 november is niet geopend en is verwijderd" in page
    assert "1. Nieuw signaal, ontvangen vrijdag 27 november 10:06" in page
    assert "Directeur ingelicht" in page and "Wacht al 3 dagen" in page
    assert "2. Signaal van vrijdag 27 november 07:00" in page
    assert "Nog niet gelezen door Bram Hoekstra — sinds vrijdag 10:06" in page
    assert NAME not in page and "Sanne" not in page and BIRTH not in page


def test_the_inbox_announces_a_case_before_it_closes_itself(db, clock, receive, people, school):
    from server import inbox_view
    clock.set("2026-11-30T06:00:00Z")
    sid = receive(name=NAME, birth_date=BIRTH)
    signals.reveal(db, clock.now(), sid, people["receiver"])
    clock.set("2026-12-11T06:00:00Z")
    case = inbox_view.view(db, school["id"], clock.now())["cases"][0]
    assert case["closing_soon"] is False
    clock.set("2026-12-14T05:30:00Z")  # Monday 06:30; it closes at 07:00
    case = inbox_view.view(db, school["id"], clock.now())["cases"][0]
    assert case["closing_soon"] is True and case["closes"] == "vandaag 07:00"


def test_a_waiting_signal_past_school_start_is_marked(db, clock, receive, people, school):
    from server import inbox_view
    clock.set("2026-11-30T06:00:00Z")  # Monday 07:00
    receive(name=NAME, birth_date=BIRTH)
    assert inbox_view.view(db, school["id"], clock.now())["waiting"][0]["late"] is False
    clock.set("2026-11-30T07:30:00Z")  # 08:30
    assert inbox_view.view(db, school["id"], clock.now())["waiting"][0]["late"] is True


def test_the_inbox_survives_a_calendar_without_school_days(db, clock, receive, people, school):
    """A mistyped holiday of two years makes the time rules impossible: the inbox still lists
    the signal (without marks) instead of failing."""
    from server import inbox_view
    for first, last in (("2026-11-01", "2027-10-31"), ("2027-11-01", "2028-10-30")):
        schools.add_holiday(db, clock.now(), school_id=school["id"], first_day=first,
                            last_day=last, label="Vergissing", actor="test")
    receive(name=NAME, birth_date=BIRTH)
    view = inbox_view.view(db, school["id"], clock.now())
    assert len(view["waiting"]) == 1 and view["waiting"][0]["late"] is False


def test_tell_it_myself_works_without_school_days():
    """A calendar without school days (a mistyped holiday) must not make the choice fail."""
    from server import followups
    holidays = [("2026-11-01", "2027-10-31"), ("2027-11-01", "2028-10-30")]
    due = followups.told_due(parse("2026-11-23T06:00:00Z"), {"start_time": "08:30"}, holidays)
    assert due == parse("2026-11-24T06:00:00Z")


def test_a_note_sent_on_to_another_teacher_reminds_the_new_teacher(db, clock, receive, people,
                                                                    staff):
    """Review: the reminder was planned once per signal, so the second teacher never got one."""
    other = staff("Mo Mentor", ["teacher"], "groep 6")
    push_subscriptions.subscribe(db, other, Device("http://127.0.0.1:9/push/mo").subscription(),
                                 "mo", clock.now(), allow_local=True)
    sid = friday_note(db, clock, receive, people)
    plan_at(db, clock, "2026-11-30T06:30:00Z")  # Monday 07:30: Bram is reminded
    clock.set("2026-11-30T06:40:00Z")
    signals.reassign_note(db, clock.now(), sid, other)  # Bram is ill: the note goes to Mo
    plan_at(db, clock, "2026-12-01T06:30:00Z")  # Tuesday 07:30: Mo is reminded too
    assert [j["staff_id"] for j in jobs(db, "note_reminder")] == [people["teacher"], other]


def test_a_case_closed_before_anyone_confirmed_the_teacher_knew_leaves_a_trace(
        app, db, clock, receive, people, school):
    """Review: 'Ik vertel het zelf' never followed by 'Verteld', or opened and never passed on,
    closed itself as if handled. Now the school keeps a nameless trace, like an expired signal;
    a pupil who did not want the mentor told, or a note that was read, leaves none."""
    from server import inbox_view
    clock.set(FRIDAY_0700)
    promised = receive(name=NAME, birth_date=BIRTH)
    signals.reveal(db, clock.now(), promised, people["receiver"])
    signals.told_in_person(db, clock.now(), promised, "self")
    forgotten = receive(name="Joost Verzonnen", birth_date=BIRTH, reference="REF-2")
    signals.reveal(db, clock.now(), forgotten, people["receiver"])
    declined = receive(name="Lotte Verzonnen", birth_date=BIRTH, reference="REF-3")
    signals.reveal(db, clock.now(), declined, people["receiver"])
    signals.told_in_person(db, clock.now(), declined, "pupil_declined")
    clock.advance(days=15)
    assert expiry.sweep(db, clock.now())["closed_automatically"] == 3
    kinds = [r["kind"] for r in db.query("SELECT kind FROM school_traces")]
    assert kinds == ["unconfirmed", "unconfirmed"]
    page = inbox_view.view(db, school["id"], clock.now())["traces"]
    assert len(page) == 2 and NAME not in repr(page) and "Joost" not in repr(page)
