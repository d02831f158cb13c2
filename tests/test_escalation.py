"""Who is pushed when: exact times with a fake clock, quiet hours, weekends, holidays, DST,
away receivers, and restart safety (every timer lives in the database). Names are invented.

Dates: Monday 23 November 2026 is a school day; times below are Dutch wall-clock times.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from server import db as db_mod
from server import escalation, jobs, signals
from server.clock import LOCAL_TZ, iso
from server.push import deliver as push_deliver
from server.push import kick as push_kick
from server.push import plan as push_plan
from server.push import subscriptions as push_subscriptions

from .push_helpers import set_away




def L(text: str) -> datetime:
    """A Dutch wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).astimezone(timezone.utc)


SCHOOL = {"escalation_time": "08:00", "escalation_delay_minutes": 30,
          "quiet_start": "21:00", "quiet_end": "06:30"}
CHRISTMAS = [("2026-12-21", "2027-01-01")]
STUDY_MONDAY = [("2026-11-23", "2026-11-23")]


# --- the pure rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("received, holidays, first, escalate", [
    # Friday night: held over the weekend to Monday's quiet end; backups at Monday 08:00.
    ("2026-11-20 22:10", (), "2026-11-23 06:30", "2026-11-23 08:00"),
    # Monday before school: pushed at once; backups at the escalation time.
    ("2026-11-23 07:05", (), "2026-11-23 07:05", "2026-11-23 08:00"),
    ("2026-11-23 07:59", (), "2026-11-23 07:59", "2026-11-23 08:00"),
    # During the school day: at once; backups after the delay.
    ("2026-11-25 11:00", (), "2026-11-25 11:00", "2026-11-25 11:30"),
    ("2026-11-25 08:00", (), "2026-11-25 08:00", "2026-11-25 08:30"),
    ("2026-11-27 15:50", (), "2026-11-27 15:50", "2026-11-27 16:20"),
    # After the school day: pushed (not yet quiet), backups next school morning.
    ("2026-11-25 16:00", (), "2026-11-25 16:00", "2026-11-26 08:00"),
    ("2026-11-25 20:59", (), "2026-11-25 20:59", "2026-11-26 08:00"),
    # Quiet hours, evening and early morning.
    ("2026-11-25 21:00", (), "2026-11-26 06:30", "2026-11-26 08:00"),
    ("2026-11-26 05:00", (), "2026-11-26 06:30", "2026-11-26 08:00"),
    ("2026-11-26 06:30", (), "2026-11-26 06:30", "2026-11-26 08:00"),
    # Weekend daytime is held too.
    ("2026-11-21 11:00", (), "2026-11-23 06:30", "2026-11-23 08:00"),
    ("2026-11-22 20:00", (), "2026-11-23 06:30", "2026-11-23 08:00"),
    # A holiday: held to the first school day after it.
    ("2026-12-23 10:00", CHRISTMAS, "2027-01-04 06:30", "2027-01-04 08:00"),
    ("2026-12-18 22:10", CHRISTMAS, "2027-01-04 06:30", "2027-01-04 08:00"),
    ("2026-11-23 07:05", STUDY_MONDAY, "2026-11-24 06:30", "2026-11-24 08:00"),
    ("2026-11-20 22:10", STUDY_MONDAY, "2026-11-24 06:30", "2026-11-24 08:00"),
    # Over the DST changes (autumn and spring).
    ("2026-10-23 22:10", (), "2026-10-26 06:30", "2026-10-26 08:00"),
    ("2027-03-26 22:10", (), "2027-03-29 06:30", "2027-03-29 08:00"),
])
def test_schedule(received, holidays, first, escalate):
    at = L(received)
    assert escalation.first_push_at(at, SCHOOL, holidays) == L(first)
    assert escalation.escalation_at(at, SCHOOL, holidays) == L(escalate)
    assert escalation.note_push_at(at, SCHOOL, holidays) == L(first)


def test_dst_instants_are_real_utc():
    assert iso(L("2026-10-26 06:30")) == "2026-10-26T05:30:00Z"  # CET
    assert iso(L("2027-03-29 06:30")) == "2027-03-29T04:30:00Z"  # CEST


def test_school_settings_are_used():
    school = {"escalation_time": "07:30", "escalation_delay_minutes": 15,
              "quiet_start": "22:00", "quiet_end": "06:00"}
    assert escalation.first_push_at(L("2026-11-25 21:30"), school) == L("2026-11-25 21:30")
    assert escalation.first_push_at(L("2026-11-25 22:00"), school) == L("2026-11-26 06:00")
    assert escalation.escalation_at(L("2026-11-26 06:10"), school) == L("2026-11-26 07:30")
    assert escalation.escalation_at(L("2026-11-26 09:00"), school) == L("2026-11-26 09:15")
    # No quiet hours at all (start == end); weekends still hold.
    none = dict(school, quiet_start="00:00", quiet_end="00:00")
    assert escalation.first_push_at(L("2026-11-25 23:30"), none) == L("2026-11-25 23:30")
    assert escalation.first_push_at(L("2026-11-21 12:00"), none) == L("2026-11-23 00:00")
    # Quiet hours that do not wrap midnight.
    early = dict(school, quiet_start="00:00", quiet_end="06:00")
    assert escalation.is_quiet_time(L("2026-11-25 03:00"), early)
    assert not escalation.is_quiet_time(L("2026-11-25 23:00"), early)
    # Missing settings fall back to the documented defaults.
    assert escalation.escalation_at(L("2026-11-25 11:00"), {}) == L("2026-11-25 11:30")


def test_escalation_delay_into_quiet_hours_is_held():
    school = dict(SCHOOL, quiet_start="16:00")
    assert escalation.escalation_at(L("2026-11-25 15:50"), school) == L("2026-11-26 06:30")


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        escalation.first_push_at(datetime(2026, 11, 23, 7, 5), SCHOOL)


# --- the same schedule end to end: signals, planning, delivery, a local push service ----------

@pytest.fixture
def team(db, clock, staff, service):
    people = {"ib": staff("Ilse Bedacht", ["receiver"]), "backup": staff("Bas Achter", ["backup"]),
              "teacher": staff("Tom Leraar", ["teacher"], "groep 5")}
    for name, staff_id in people.items():
        push_subscriptions.subscribe(db, staff_id, service.device(name).subscription(), name, clock.now(),
                       allow_local=True)
    return people


def pushes(service):
    """(local time, person) for every push the service received."""
    return [(r.at.astimezone(LOCAL_TZ).strftime("%a %H:%M:%S"), r.path.rsplit("/", 1)[1])
            for r in service.received]


def run_at(db, clock, cfg, *times):
    for text in times:
        clock.set(L(text))
        push_kick.sweep_job(db, clock.now(), cfg)


def new_signal(db, clock, receive, when):
    clock.set(L(when))
    return receive(f"R-{when[-5:].replace(':', '')}")


def test_friday_night_signal(db, clock, cfg, service, team, receive):
    sid = new_signal(db, clock, receive, "2026-11-20 22:10")
    run_at(db, clock, cfg, "2026-11-20 22:10", "2026-11-21 10:00", "2026-11-22 21:00",
           "2026-11-23 06:29:59")
    assert pushes(service) == []
    run_at(db, clock, cfg, "2026-11-23 06:30", "2026-11-23 07:59:59")
    assert pushes(service) == [("Mon 06:30:00", "ib")]
    run_at(db, clock, cfg, "2026-11-23 08:00", "2026-11-23 09:00", "2026-11-23 12:00")
    assert pushes(service) == [("Mon 06:30:00", "ib"), ("Mon 08:00:00", "backup")]
    assert signals.get(db, sid)["notified_at"] == iso(L("2026-11-23 06:30"))


def test_monday_0705_opened_at_0740(db, clock, cfg, service, team, receive):
    sid = new_signal(db, clock, receive, "2026-11-23 07:05")
    run_at(db, clock, cfg, "2026-11-23 07:05", "2026-11-23 07:30")
    clock.set(L("2026-11-23 07:40"))
    signals.reveal(db, clock.now(), sid, team["ib"])
    clock.set(L("2026-11-23 07:45"))
    signals.assign_teacher(db, clock.now(), sid, team["teacher"])
    run_at(db, clock, cfg, "2026-11-23 07:45", "2026-11-23 08:00", "2026-11-23 09:00")
    assert pushes(service) == [("Mon 07:05:00", "ib"), ("Mon 07:45:00", "teacher")]


def test_monday_0705_not_opened_by_0800(db, clock, cfg, service, team, receive):
    new_signal(db, clock, receive, "2026-11-23 07:05")
    run_at(db, clock, cfg, "2026-11-23 07:05", "2026-11-23 07:59:59")
    assert pushes(service) == [("Mon 07:05:00", "ib")]
    run_at(db, clock, cfg, "2026-11-23 08:00", "2026-11-23 08:30", "2026-11-24 08:00")
    assert pushes(service) == [("Mon 07:05:00", "ib"), ("Mon 08:00:00", "backup")]


def test_wednesday_1100(db, clock, cfg, service, team, receive):
    new_signal(db, clock, receive, "2026-11-25 11:00")
    run_at(db, clock, cfg, "2026-11-25 11:00", "2026-11-25 11:29:59")
    assert pushes(service) == [("Wed 11:00:00", "ib")]
    run_at(db, clock, cfg, "2026-11-25 11:30", "2026-11-25 14:00")
    assert pushes(service) == [("Wed 11:00:00", "ib"), ("Wed 11:30:00", "backup")]


def test_holiday(db, clock, cfg, service, team, receive, school):
    db["holidays"].insert({"school_id": school["id"], "first_day": "2026-11-23",
                           "last_day": "2026-11-23", "label": "studiedag"})
    new_signal(db, clock, receive, "2026-11-23 07:05")
    run_at(db, clock, cfg, "2026-11-23 07:05", "2026-11-23 08:00", "2026-11-23 12:00",
           "2026-11-23 21:00", "2026-11-24 06:29:59")
    assert pushes(service) == []
    run_at(db, clock, cfg, "2026-11-24 06:30", "2026-11-24 07:59:59", "2026-11-24 08:00",
           "2026-11-24 10:00")
    assert pushes(service) == [("Tue 06:30:00", "ib"), ("Tue 08:00:00", "backup")]


def test_teacher_note_assigned_in_quiet_hours_waits_for_morning(db, clock, cfg, service, team,
                                                                receive):
    sid = new_signal(db, clock, receive, "2026-11-25 20:30")
    clock.set(L("2026-11-25 20:50"))
    signals.reveal(db, clock.now(), sid, team["ib"])
    clock.set(L("2026-11-25 21:10"))
    signals.assign_teacher(db, clock.now(), sid, team["teacher"])
    run_at(db, clock, cfg, "2026-11-25 21:10", "2026-11-26 06:29")
    assert [p for p in pushes(service) if p[1] == "teacher"] == []
    run_at(db, clock, cfg, "2026-11-26 06:30")
    assert [p for p in pushes(service) if p[1] == "teacher"] == [("Thu 06:30:00", "teacher")]


def test_away_receiver_is_skipped_at_push_time(db, clock, cfg, service, team, receive):
    set_away(db, team["ib"], L("2026-11-23 09:00"), L("2026-11-20 12:00"))
    new_signal(db, clock, receive, "2026-11-20 22:10")
    run_at(db, clock, cfg, "2026-11-23 06:30", "2026-11-23 08:00", "2026-11-23 09:30")
    # The backup stands in at once; the escalation does not push the backup a second time.
    assert pushes(service) == [("Mon 06:30:00", "backup")]


def test_receiver_back_before_the_push_gets_it(db, clock, cfg, service, team, receive):
    set_away(db, team["ib"], L("2026-11-22 18:00"), L("2026-11-20 12:00"))
    new_signal(db, clock, receive, "2026-11-20 22:10")
    run_at(db, clock, cfg, "2026-11-23 06:30")
    assert pushes(service) == [("Mon 06:30:00", "ib")]


def test_everyone_away_still_pushes_everyone(db, clock, cfg, service, team, receive):
    for who in ("ib", "backup"):
        set_away(db, team[who], L("2026-12-01 00:00"), L("2026-11-20 12:00"))
    new_signal(db, clock, receive, "2026-11-25 11:00")
    run_at(db, clock, cfg, "2026-11-25 11:00", "2026-11-25 11:30")
    assert sorted(p[1] for p in pushes(service)) == ["backup", "ib"]


def test_retries_do_not_break_quiet_hours(db, clock, cfg, service, team, receive):
    service.status["/push/ib"] = 500
    new_signal(db, clock, receive, "2026-11-25 20:59")
    run_at(db, clock, cfg, "2026-11-25 20:59")
    job = list(db.query("SELECT * FROM push_jobs WHERE event = 'new'"))[0]
    assert job["next_attempt_at"] == iso(L("2026-11-26 06:30"))  # not 21:00


# --- restart safety ---------------------------------------------------------------------------

def test_timers_survive_restart_and_nothing_is_pushed_twice(app, clock, cfg, service, team,
                                                           receive, data_dir, db):
    sid = new_signal(db, clock, receive, "2026-11-20 22:10")
    db.close()  # the server goes down over the weekend; nothing is held in memory
    for when in ("2026-11-23 06:30", "2026-11-23 06:30", "2026-11-23 08:00", "2026-11-23 08:00",
                 "2026-11-23 08:01"):
        clock.set(L(when))
        jobs.run_once(cfg, clock)  # the real sweep entry point, a fresh connection each time
        push_kick.run_now(cfg, clock)   # and a kick in between
    assert pushes(service) == [("Mon 06:30:00", "ib"), ("Mon 08:00:00", "backup")]
    fresh = db_mod.connect(data_dir)
    try:
        assert signals.get(fresh, sid)["notified_at"] == iso(L("2026-11-23 06:30"))
        assert fresh.conn.execute("SELECT count(*) FROM push_jobs").fetchone()[0] == 2
    finally:
        fresh.close()


def test_crash_between_claim_and_send_is_retried_after_the_lease(db, clock, cfg, service, team,
                                                                 receive):
    new_signal(db, clock, receive, "2026-11-25 11:00")
    push_plan.plan(db, clock.now())
    # A worker claims the job and dies before sending.
    db.conn.execute("UPDATE push_jobs SET attempts = 1, next_attempt_at = ?",
                    (iso(clock.now() + push_deliver.LEASE),))
    push_deliver.deliver_due(db, clock.now(), cfg)
    clock.advance(seconds=push_deliver.LEASE.total_seconds() - 1)
    push_deliver.deliver_due(db, clock.now(), cfg)
    assert pushes(service) == []
    clock.advance(seconds=1)
    push_deliver.deliver_due(db, clock.now(), cfg)
    push_deliver.deliver_due(db, clock.now(), cfg)
    assert pushes(service) == [("Wed 11:05:00", "ib")]


def test_ended_signal_forgets_its_push_jobs(db, clock, cfg, service, team, receive):
    sid = new_signal(db, clock, receive, "2026-11-25 11:00")
    run_at(db, clock, cfg, "2026-11-25 11:00")
    clock.set(L("2026-11-25 11:10"))
    signals.reveal(db, clock.now(), sid, team["ib"])
    signals.return_signal(db, clock.now(), sid)
    run_at(db, clock, cfg, "2026-11-25 11:40")
    assert db.conn.execute("SELECT count(*) FROM push_jobs").fetchone()[0] == 0
    assert pushes(service) == [("Wed 11:00:00", "ib")]


def test_opened_before_a_pending_retry_cancels_it(db, clock, cfg, service, team, receive):
    service.status["/push/ib"] = 500
    sid = new_signal(db, clock, receive, "2026-11-25 11:00")
    run_at(db, clock, cfg, "2026-11-25 11:00")
    clock.set(L("2026-11-25 11:00:30"))
    signals.reveal(db, clock.now(), sid, team["ib"])
    service.status["/push/ib"] = 201
    run_at(db, clock, cfg, "2026-11-25 11:01", "2026-11-25 11:40")
    assert len(service.received) == 1  # the failed one only; no push for an opened signal
    job = list(db.query("SELECT * FROM push_jobs"))[0]
    assert job["last_error"] == "moot" and job["sent_at"] is None
