"""The push planner's cost is bounded by the schools with someone to push, not by the number of
waiting signals (issue 14). A behavioural bound on SQL statements, not a timing."""
from __future__ import annotations

from datetime import timedelta

from server.clock import iso
from server.push import plan as push_plan


def _device(db, clock, staff_id, name):
    db["push_subscriptions"].insert({
        "staff_id": staff_id, "endpoint": f"http://127.0.0.1:9/push/{name}", "p256dh": "k",
        "auth": "a", "created_at": iso(clock.now())})


def _waiting(db, school_id, municipality_id, count, received_at, prefix):
    db["signals"].insert_all({
        "id": f"{prefix}-{i}", "school_id": school_id, "municipality_id": municipality_id,
        "reference": f"{prefix}-{i}", "state": "received", "received_at": iso(received_at),
        "updated_at": iso(received_at)} for i in range(count))


def _statements(db, now):
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        result = push_plan.plan(db, now)
    finally:
        db.conn.set_trace_callback(None)
    return len(seen), result


def test_statements_of_a_plan_do_not_grow_with_waiting_signals(db, clock, school, other_school,
                                                               municipality, staff):
    receiver = staff("Ilse Bedacht", ["receiver"])
    backup = staff("Bas Achter", ["backup"])
    director = staff("Dirk Verzonnen", ["director"])
    for person, name in ((receiver, "r"), (backup, "b"), (director, "d")):
        _device(db, clock, person, name)
    staff("Olga Anders", ["receiver"], school_id=other_school["id"])  # no device
    received = clock.now() + timedelta(hours=1)   # Monday 08:00 local: new push due at once
    now = clock.now() + timedelta(hours=4)        # 11:00: escalation and director due too
    _waiting(db, other_school["id"], municipality["id"], 300, received, "other")

    _waiting(db, school["id"], municipality["id"], 10, received, "few")
    few_first, few_result = _statements(db, now)
    few_again, again = _statements(db, now)
    _waiting(db, school["id"], municipality["id"], 200, received, "many")
    many_first, many_result = _statements(db, now)
    many_again, _ = _statements(db, now)

    # Every waiting signal of the school got its pushes (new, escalation, director) ...
    assert few_result["push_planned"] == 10 * 3
    assert many_result["push_planned"] == 200 * 3
    assert again["push_planned"] == 0
    # ... with the same number of statements for 10 and for 200 waiting signals.
    assert few_first == many_first
    assert few_again == many_again
    assert few_again <= few_first < 40


def test_bisection_finds_exactly_the_due_signals_of_every_rule():
    """`_due_rows` bisects per school on the stamp; it must pick exactly what evaluating every
    rule on every row picks, across weekends, holidays, quiet hours and odd school times."""
    import random
    from datetime import datetime, timezone

    from server import escalation, followups

    rnd = random.Random(14)
    cal = {1: ({"start_time": "08:30"}, []),
           2: ({"start_time": "09:00", "escalation_time": "07:15", "escalation_delay_minutes": 240,
                "quiet_start": "19:00", "quiet_end": "07:00"}, [("2026-11-25", "2026-11-27")]),
           3: ({"start_time": "08:15", "quiet_start": "01:00", "quiet_end": "05:00"}, []),
           4: ({"start_time": "08:30"}, [("2026-11-01", "2028-12-31")])}  # gives up: fallback
    start = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)
    rows = [{"id": f"s{i}", "school_id": rnd.choice(list(cal)),
             "stamp": iso(start + timedelta(minutes=rnd.randrange(0, 12 * 24 * 60)))}
            for i in range(400)]
    for rule in (escalation.first_push_at, escalation.escalation_at, followups.director_at,
                 followups.note_reminder_at, followups.note_unread_at,
                 followups.note_deadline_at, followups.told_reminder_at):
        for hours in range(0, 12 * 24, 7):
            now = start + timedelta(hours=hours)
            got = [(r["id"], due) for r, due in push_plan._due_rows(
                list(rows), rule, "stamp", lambda sid: cal[sid], now)]
            want = []
            for r in rows:
                school, holidays = cal[r["school_id"]]
                due = push_plan._due(rule, r["stamp"], school, holidays)
                if due <= now:
                    want.append((r["id"], due))
            assert got == want, (rule.__name__, now)
