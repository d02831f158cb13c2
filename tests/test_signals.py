"""The state machine: each transition, each guard, each deadline, with a fake clock."""
from __future__ import annotations

import threading

import pytest

from server import db as db_mod
from server import expiry
from server import deadlines, receipts, signals, tasks, vault
from server.clock import iso
from server.deadlines import Deadlines


def state(db, sid):
    return signals.get(db, sid)["state"]


def counts(db):
    return {(r["metric"]): r["value"] for r in db.query("SELECT metric, value FROM monthly_counts")}


def test_receive_is_sealed_and_idempotent(db, clock, receive, municipality, school):
    sid = receive()
    assert state(db, sid) == "received"
    assert db.conn.execute("SELECT count(*) FROM sealed WHERE purpose='receiver'").fetchone()[0] == 1
    row, created = signals.receive(db, clock.now(), municipality_id=municipality["id"],
                                   school_id=school["id"], reference="REF-1",
                                   child=signals.Child("Sanne Verzonnen", "2017-04-02"))
    assert (row["id"], created) == (sid, False)
    with pytest.raises(signals.ReferenceConflict):
        signals.receive(db, clock.now(), municipality_id=municipality["id"],
                        school_id=school["id"], reference="REF-1",
                        child=signals.Child("Sanne Verzonnen", "2017-04-03"))
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 1


def test_full_po_path(db, clock, receive, staff):
    sid = receive()
    ib, teacher = staff("Ilse Bedacht", ["receiver"]), staff("Tom Leraar", ["teacher"], "groep 5")
    clock.advance(minutes=40)  # 07:40, before the 08:30 start
    shown = signals.reveal(db, clock.now(), sid, ib)
    assert shown.child.name == "Sanne Verzonnen" and shown.child.birth_date == "2017-04-02"
    assert "Sanne" not in repr(shown.child)
    assert signals.handover_available(db, sid)
    assert not vault.has_sealed(db.conn, sid, "receiver")
    signals.assign_teacher(db, clock.now(), sid, teacher)
    assert not signals.handover_available(db, sid)
    assert state(db, sid) == "teacher_assigned"
    with pytest.raises(signals.NotFound):
        signals.teacher_read(db, clock.now(), sid, ib)  # not the assigned teacher
    clock.advance(minutes=25)
    note = signals.teacher_read(db, clock.now(), sid, teacher).child
    assert note.name == "Sanne Verzonnen"
    with pytest.raises(signals.WrongState):
        signals.teacher_read(db, clock.now(), sid, teacher)  # once only
    row = signals.get(db, sid)
    assert receipts.receipt(row)["status"] == "teacher_informed"
    assert row["teacher_informed_at"] == "2026-11-23T07:05:00Z"
    signals.record_parent_contact(db, clock.now(), sid, "by_teacher")
    row = signals.get(db, sid)
    assert row["state"] == "closed" and row["opened_by"] is None and row["teacher_id"] is None
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM keys.data_keys").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM keys.intake").fetchone()[0] == 0
    assert counts(db) == {"received": 1, "opened": 1, "opened_before_start": 1,
                          "teacher_informed": 1, "closed": 1}
    assert [r["minutes"] for r in db.query("SELECT minutes FROM open_minutes")] == [40]


def test_reveal_twice_says_who_and_when(db, clock, receive, staff):
    sid = receive()
    ib, backup = staff("Ilse Bedacht"), staff("Bas Achter", ["backup"])
    signals.reveal(db, clock.now(), sid, ib)
    with pytest.raises(signals.WrongState) as err:
        signals.reveal(db, clock.now(), sid, backup)
    assert err.value.state == "opened" and err.value.row["opened_by"] == ib
    assert "Sanne" not in str(err.value)


def test_told_in_person_and_pupil_declined(db, clock, receive, staff):
    a, b = receive("A-1"), receive("B-1")
    ib = staff()
    signals.reveal(db, clock.now(), a, ib)
    signals.reveal(db, clock.now(), b, ib)
    signals.told_in_person(db, clock.now(), a, "self")
    signals.told_in_person(db, clock.now(), b, "pupil_declined")
    ra, rb = signals.get(db, a), signals.get(db, b)
    # Issue 12: 'self' is a promise until the 'Verteld' tap (tasks.told), not yet a receipt.
    assert (ra["state"], receipts.public_status(ra)) == ("teacher_read", "opened")
    tasks.told(db, clock.advance(minutes=20), a)
    ra = signals.get(db, a)
    assert (ra["state"], receipts.public_status(ra)) == ("teacher_read", "teacher_informed")
    assert ra["teacher_informed_at"] == iso(clock.now())
    assert (rb["state"], receipts.public_status(rb)) == ("teacher_read", "opened")
    assert rb["teacher_informed_at"] is None
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0
    with pytest.raises(ValueError):
        signals.told_in_person(db, clock.now(), a, "nobody")


def test_return_destroys_everything(db, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    signals.return_signal(db, clock.now(), sid)
    row = signals.get(db, sid)
    assert receipts.receipt(row)["status"] == "returned" and row["closed_at"]
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0
    with pytest.raises(signals.WrongState):
        signals.assign_teacher(db, clock.now(), sid, 1)


def test_guards_refuse_wrong_order(db, clock, receive, staff):
    sid = receive()
    with pytest.raises(signals.WrongState):
        signals.assign_teacher(db, clock.now(), sid, staff(roles=["teacher"]))
    with pytest.raises(signals.WrongState):
        signals.record_parent_contact(db, clock.now(), sid, "by_me")
    with pytest.raises(signals.NotFound):
        signals.reveal(db, clock.now(), "nope", 1)
    with pytest.raises(ValueError):
        signals.record_parent_contact(db, clock.now(), sid, "shrug")
    assert state(db, sid) == "received"


def test_assign_after_handover_expired_is_refused_and_rolled_back(db, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    clock.advance(minutes=30)
    assert expiry.sweep(db, clock.now())["handover_destroyed"] == 1
    with pytest.raises(signals.HandoverGone):
        signals.assign_teacher(db, clock.now(), sid, staff("Tom Leraar", ["teacher"]))
    assert state(db, sid) == "opened"  # the failed transition changed nothing
    signals.told_in_person(db, clock.now(), sid, "self")  # the case still asks how


# --- deadlines ----------------------------------------------------------------------------------

def test_unopened_expires_exactly_at_seven_days(db, clock, receive):
    sid = receive()
    clock.advance(days=7, seconds=-1)
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 0
    assert state(db, sid) == "received"
    clock.advance(seconds=1)
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 1
    row = signals.get(db, sid)
    assert receipts.receipt(row)["status"] == "expired" and row["closed_at"] == "2026-11-30T06:00:00Z"
    assert db.conn.execute("SELECT count(*) FROM keys.data_keys").fetchone()[0] == 0
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 0  # idempotent


def test_unread_note_expires_after_three_days(db, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    signals.assign_teacher(db, clock.now(), sid, staff("Tom Leraar", ["teacher"]))
    clock.advance(days=3, seconds=-1)
    assert expiry.sweep(db, clock.now())["expired_unread"] == 0
    clock.advance(seconds=1)
    assert expiry.sweep(db, clock.now())["expired_unread"] == 1
    assert receipts.receipt(signals.get(db, sid))["status"] == "expired"
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0


def test_handover_destroyed_after_thirty_minutes(db, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    clock.advance(minutes=29, seconds=59)
    assert expiry.sweep(db, clock.now())["handover_destroyed"] == 0
    clock.advance(seconds=1)
    assert expiry.sweep(db, clock.now())["handover_destroyed"] == 1
    assert not signals.handover_available(db, sid)


def test_case_closes_itself_after_fourteen_days(db, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    signals.told_in_person(db, clock.now(), sid, "self")
    clock.advance(days=14, seconds=-1)
    assert expiry.sweep(db, clock.now())["closed_automatically"] == 0
    clock.advance(seconds=1)
    assert expiry.sweep(db, clock.now())["closed_automatically"] == 1
    row = signals.get(db, sid)
    assert row["state"] == "closed" and row["parent_contact"] == "not_recorded"


def test_receipt_purged_thirty_days_after_last_change(db, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    signals.return_signal(db, clock.now(), sid)
    clock.advance(days=30, seconds=-1)
    assert expiry.sweep(db, clock.now())["receipts_purged"] == 0
    clock.advance(seconds=1)
    assert expiry.sweep(db, clock.now())["receipts_purged"] == 1
    with pytest.raises(signals.NotFound):
        signals.get(db, sid)
    # Only anonymous counters remain.
    assert counts(db) == {"received": 1, "opened": 1, "opened_before_start": 1, "returned": 1}


def test_deadlines_follow_configuration(db, clock, municipality, school, staff):
    short = Deadlines.from_config(type("C", (), dict(
        unopened_expiry_days=2, note_unread_expiry_days=1, case_autoclose_days=3,
        receipt_purge_days=5, handover_minutes=10))())
    row, _ = signals.receive(db, clock.now(), municipality_id=municipality["id"],
                             school_id=school["id"], reference="SHORT-1",
                             child=signals.Child("Sanne Verzonnen", "2017-04-02"), deadlines=short)
    other, _ = signals.receive(db, clock.now(), municipality_id=municipality["id"],
                               school_id=school["id"], reference="SHORT-2",
                               child=signals.Child("Bram Verzonnen", "2016-04-02"), deadlines=short)
    signals.reveal(db, clock.now(), other["id"], staff())
    clock.advance(minutes=10)
    assert expiry.sweep(db, clock.now(), short)["handover_destroyed"] == 1
    clock.advance(days=2)
    assert expiry.sweep(db, clock.now(), short)["expired_unopened"] == 1
    assert state(db, row["id"]) == "expired"
    clock.advance(days=1)
    assert expiry.sweep(db, clock.now(), short)["closed_automatically"] == 1


# --- concurrency --------------------------------------------------------------------------------

def test_fifty_threads_reveal_exactly_once(db, data_dir, clock, receive, staff):
    sid = receive()
    people = [staff(f"Persoon {i}", ["receiver"]) for i in range(50)]
    barrier = threading.Barrier(50)
    results, errors = [], []

    def attempt(person):
        conn = db_mod.connect(data_dir)
        try:
            barrier.wait()
            results.append(signals.reveal(conn, clock.now(), sid, person).child.name)
        except signals.WrongState:
            results.append(None)
        except Exception as exc:  # pragma: no cover - would fail the test below
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=attempt, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r for r in results if r] == ["Sanne Verzonnen"]
    assert results.count(None) == 49
    assert counts(db)["opened"] == 1


def test_teacher_read_racing_the_sweep_is_consistent(db, data_dir, clock, receive, staff):
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    teacher = staff("Tom Leraar", ["teacher"])
    signals.assign_teacher(db, clock.now(), sid, teacher)
    clock.advance(days=3)  # the note is due to expire at exactly this moment
    outcome = {}
    barrier = threading.Barrier(2)

    def read():
        conn = db_mod.connect(data_dir)
        barrier.wait()
        try:
            outcome["read"] = signals.teacher_read(conn, clock.now(), sid, teacher).child.name
        except signals.WrongState as exc:
            outcome["read"] = exc.state
        conn.close()

    def sweep():
        conn = db_mod.connect(data_dir)
        barrier.wait()
        outcome["sweep"] = expiry.sweep(conn, clock.now())["expired_unread"]
        conn.close()

    threads = [threading.Thread(target=read), threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = state(db, sid)
    if outcome["read"] == "Sanne Verzonnen":
        assert outcome["sweep"] == 0 and final == "teacher_read"
    else:
        assert outcome["read"] == "expired" and outcome["sweep"] == 1 and final == "expired"
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0


def test_receipt_changes_are_queued_in_order_only_with_a_webhook(db, clock, receive, staff,
                                                                    municipality):
    first = receive("NO-HOOK-1")
    signals.reveal(db, clock.now(), first, staff())
    assert db.conn.execute("SELECT count(*) FROM receipt_events").fetchone()[0] == 0
    db.conn.execute("UPDATE municipalities SET webhook_url = 'https://example.invalid/hook'")
    sid = receive("HOOK-1", "Joris Verzinsel")
    signals.reveal(db, clock.now(), sid, staff("Ilse Tweede"))
    teacher = staff("Tom Leraar", ["teacher"])
    signals.assign_teacher(db, clock.now(), sid, teacher)
    signals.teacher_read(db, clock.now(), sid, teacher)
    signals.record_parent_contact(db, clock.now(), sid, "by_me")
    events = list(db.query("SELECT reference, status, receipt FROM receipt_events ORDER BY id"))
    assert [e["status"] for e in events] == ["opened", "teacher_informed", "closed"]
    assert all(e["reference"] == "HOOK-1" for e in events)
    assert not any("Joris" in e["receipt"] or "2017" in e["receipt"] for e in events)


def test_signal_at_start_of_a_long_holiday_waits_for_the_school(db, clock, receive, school):
    """Christmas: 19 Dec 2026 – 3 Jan 2027. A signal on Friday evening 18 Dec must still be
    there on Monday 4 Jan (first school start 08:30) and expire one day after that."""
    db["holidays"].insert({"school_id": school["id"], "first_day": "2026-12-19",
                           "last_day": "2027-01-03", "label": "Kerstvakantie"})
    clock.set("2026-12-18T19:00:00Z")
    sid = receive()
    clock.set("2027-01-04T07:29:00Z")  # Monday 08:29 local, 17 days later
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 0
    assert state(db, sid) == "received"
    clock.set("2027-01-05T07:29:59Z")
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 0
    clock.set("2027-01-05T07:30:00Z")
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 1


def test_unopened_deadline_is_seven_days_in_term_time():
    from datetime import timedelta

    from server.clock import parse
    received = parse("2026-11-23T06:00:00Z")
    assert deadlines.unopened_deadline(received, "08:30", [], timedelta(days=7)) == \
        parse("2026-11-30T06:00:00Z")


def test_hundred_threads_reveal_exactly_once_and_the_rest_is_consistent(db, data_dir, clock,
                                                                        receive, staff):
    """100 people (receivers and backups) tap 'open' at the same instant, each on their own
    connection: exactly one sees the child, 99 are told who opened it; one hand-over copy, no
    receiver copy, one 'opened' count and one open-minutes row."""
    sid = receive()
    people = [staff(f"Persoon {i}", ["receiver" if i % 2 else "backup"]) for i in range(100)]
    barrier = threading.Barrier(100)
    results, errors = [], []
    lock = threading.Lock()

    def attempt(person):
        conn = db_mod.connect(data_dir)
        try:
            barrier.wait(timeout=30)
            outcome = ("revealed", person, signals.reveal(conn, clock.now(), sid, person).child.name)
        except signals.WrongState as exc:
            outcome = ("refused", person, exc.row.get("opened_by"))
        except Exception as exc:  # pragma: no cover - would fail the test below
            outcome = ("error", person, type(exc).__name__)
        finally:
            conn.close()
        with lock:
            (errors if outcome[0] == "error" else results).append(outcome)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    winners = [r for r in results if r[0] == "revealed"]
    assert len(winners) == 1 and winners[0][2] == "Sanne Verzonnen"
    winner = winners[0][1]
    refused = [r for r in results if r[0] == "refused"]
    assert len(refused) == 99 and all(r[2] == winner for r in refused)
    row = signals.get(db, sid)
    assert row["state"] == "opened" and row["opened_by"] == winner
    assert not vault.has_sealed(db.conn, sid, "receiver")
    assert db.conn.execute("SELECT count(*) FROM sealed WHERE purpose = 'handover'").fetchone()[0] == 1
    assert db.conn.execute("SELECT count(*) FROM keys.data_keys").fetchone()[0] == 1
    assert counts(db)["opened"] == 1
    assert db.conn.execute("SELECT count(*) FROM open_minutes").fetchone()[0] == 1


def test_restore_without_keys_expires_what_cannot_be_read(db, clock, receive, staff):
    """A restored hwc.db next to an empty keys.db: sealed copies are unreadable (shredded).
    Opening says so instead of failing, and the next sweep expires those signals."""
    waiting, assigned = receive("W-1"), receive("A-1", "Anna Verzonnen")
    signals.reveal(db, clock.now(), assigned, staff())
    signals.assign_teacher(db, clock.now(), assigned, staff("Tom Leraar", ["teacher"]))
    db.conn.execute("DELETE FROM keys.data_keys")  # what a missing keys.db amounts to
    with pytest.raises(signals.Unreadable):
        signals.reveal(db, clock.now(), waiting, staff("Rik Tweede"))
    assert state(db, waiting) == "received"
    result = expiry.sweep(db, clock.now())
    assert result["expired_keyless"] == 2
    assert state(db, waiting) == state(db, assigned) == "expired"
    assert db.conn.execute("SELECT count(*) FROM sealed").fetchone()[0] == 0
    fresh = receive("NEW-1", "Nieuw Verzonnen")  # new signals work as ever
    assert expiry.sweep(db, clock.now())["expired_keyless"] == 0
    assert state(db, fresh) == "received"


def test_a_spent_reference_is_refused_not_mistaken_for_a_retry(db, clock, receive, staff,
                                                                municipality, school):
    """Review C1: once a signal is opened (or has ended) its fingerprint is gone; the same
    reference with any content is then a 409, never a silent 'already accepted'."""
    sid = receive("DOSSIER-77", "Sanne Verzonnen")
    assert db.conn.execute("SELECT count(*) FROM keys.intake").fetchone()[0] == 1
    signals.reveal(db, clock.now(), sid, staff())
    assert db.conn.execute("SELECT count(*) FROM keys.intake").fetchone()[0] == 0  # review I1
    for name in ("Sanne Verzonnen", "Ander Kind"):
        with pytest.raises(signals.ReferenceSpent):
            signals.receive(db, clock.now(), municipality_id=municipality["id"],
                            school_id=school["id"], reference="DOSSIER-77",
                            child=signals.Child(name, "2017-04-02"))
    assert db.conn.execute("SELECT count(*) FROM signals").fetchone()[0] == 1


def test_a_mistyped_year_long_holiday_cannot_keep_a_name_for_a_year(db, clock, receive, school):
    """Review I5: a holiday postpones expiry by at most MAX_HOLIDAY_WAIT."""
    db["holidays"].insert({"school_id": school["id"], "first_day": "2026-11-23",
                           "last_day": "2027-11-24", "label": "typo"})
    sid = receive()
    row = signals.get(db, sid)
    assert row["expires_at"] == "2026-12-21T06:00:00Z"  # 7 days + 21 days
    clock.set("2026-12-21T06:00:00Z")
    assert expiry.sweep(db, clock.now())["expired_unopened"] == 1


def test_a_note_assigned_on_friday_waits_for_monday(db, clock, receive, staff):
    """The unread-note deadline counts school days: Friday 08:00 + 3 → Wednesday 08:00."""
    clock.set("2026-11-27T07:00:00Z")  # Friday 08:00
    sid = receive()
    signals.reveal(db, clock.now(), sid, staff())
    signals.assign_teacher(db, clock.now(), sid, staff("Tom Leraar", ["teacher"]))
    assert signals.get(db, sid)["expires_at"] == "2026-12-02T07:00:00Z"
    clock.set("2026-11-30T08:00:00Z")  # Monday 09:00: plain 3 days have passed
    assert expiry.sweep(db, clock.now())["expired_unread"] == 0
    clock.set("2026-12-02T07:00:00Z")
    assert expiry.sweep(db, clock.now())["expired_unread"] == 1
